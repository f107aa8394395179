"""Options every AWS child of the component shares: its parent and the one explicit provider."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def child(
    parent: pulumi.ComponentResource, provider: aws.Provider, **kwargs
) -> pulumi.ResourceOptions:
    """Options for an AWS child: parented to the component, through the explicit provider."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, **kwargs)


def invoke(parent: pulumi.ComponentResource, provider: aws.Provider) -> pulumi.InvokeOutputOptions:
    """Options for an AWS data source read on behalf of the component, through its provider."""
    return pulumi.InvokeOutputOptions(parent=parent, provider=provider)
