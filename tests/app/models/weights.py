"""A model whose weights are a text file: ``load(path)`` reads it, ``predict`` answers with it."""

_weights = None


def load(path):
    global _weights
    with open(path) as f:
        _weights = f.read().strip()


def predict(msg: str) -> str:
    return f"{_weights}:{msg}"
