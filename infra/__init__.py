"""The Pulumi program: settings, the image, one module per target, the cost estimate."""
