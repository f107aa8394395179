"""A model whose process dies on ``msg == "crash"`` (as a segfault or an out-of-memory kill
would end it), raises a ValueError quoting ``msg`` for ``raise:...``, and echoes anything else."""

import os


def predict(msg: str) -> str:
    if msg == "crash":
        os._exit(139)
    if msg.startswith("raise:"):
        raise ValueError(f"cannot read {msg[6:]}")
    return msg
