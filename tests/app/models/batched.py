"""A ``@batch`` model: upper-cases each text, after sleeping ``BATCH_SECONDS`` per call.

Each call appends one line to ``$BATCH_LOG`` (if set): the texts it got, as JSON, so tests see
the batches the server formed. Texts name a few behaviours: ``raise`` fails the whole call,
``short`` makes it return one answer too few, ``refuse`` is answered with an ``InputError`` of
its own, ``slow`` sleeps 2 s instead.
"""

import json
import os
import time
from typing import Annotated

from pydantic import Field

from app import InputError, batch

__version__ = "batched-1"

Text = Annotated[str, Field(max_length=20, examples=["hi"])]


@batch(max_batch_size=8, max_wait_ms=50)
def predict(msgs: list[Text]) -> list[str]:
    if log := os.environ.get("BATCH_LOG"):
        with open(log, "a") as f:
            f.write(json.dumps(msgs) + "\n")
    time.sleep(2 if "slow" in msgs else float(os.environ.get("BATCH_SECONDS", "0.1")))
    if "raise" in msgs:
        raise ValueError("this batch had 'raise' in it")
    if "short" in msgs:
        return [m.upper() for m in msgs[:-1]]
    return [InputError("the model refuses 'refuse'") if m == "refuse" else m.upper() for m in msgs]
