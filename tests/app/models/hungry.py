"""A model whose ``load()`` holds ``$HOLD_MB`` MiB (written, so it is resident), then echoes."""

import os

_held = b""


def load():
    global _held
    _held = b"x" * (int(os.environ.get("HOLD_MB", "0")) * 1024 * 1024)  # written: resident


def predict(msg: str) -> str:
    return msg
