"""A model that sleeps for ``msg`` seconds, after touching ``$STARTED``, then echoes ``msg``.

``msg`` names a few failures instead: ``raise`` (ValueError), ``exit`` (SystemExit),
``base`` (a bare BaseException), ``bad`` (app.InputError), ``nan`` (an answer that is not JSON).
"""

import os
import time
from pathlib import Path

from app import InputError


def predict(msg):
    if started := os.environ.get("STARTED"):
        Path(started).touch()
    if msg == "raise":
        raise ValueError("could not convert string to float: 'raise'")
    if msg == "exit":
        raise SystemExit(3)
    if msg == "base":
        raise BaseException("bare")
    if msg == "bad":
        raise InputError("the model refuses 'bad'")
    if msg == "nan":
        return float("nan")
    time.sleep(float(msg))
    return msg
