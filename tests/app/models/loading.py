"""A model whose ``load()`` takes ``$LOAD_SECONDS`` and fails when ``$LOAD_FAILS`` is set."""

import os
import time

_ready = False


def load():
    global _ready
    time.sleep(float(os.environ.get("LOAD_SECONDS", "0")))
    if os.environ.get("LOAD_FAILS"):
        raise FileNotFoundError(os.environ["LOAD_FAILS"])
    _ready = True


def predict(msg: str) -> str:
    assert _ready, "predict before load"
    return msg.upper()
