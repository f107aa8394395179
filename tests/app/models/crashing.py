"""A model whose process dies on ``msg == "crash"`` (as a segfault or an out-of-memory kill
would end it), and echoes anything else."""

import os


def predict(msg: str) -> str:
    if msg == "crash":
        os._exit(139)
    return msg
