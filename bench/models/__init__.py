"""Model modules the benchmark serves (``MODEL_MODULE=bench.models.<name>``)."""
