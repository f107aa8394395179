"""MiniLM as ``python -m app`` serves it in ``bench/minilm.py`` (``MODEL_MODULE`` names this).

The batch form of the runtime (``from app import batch``), with its default limits (32 inputs,
10 ms), as a user would declare it: one sentence per request, gathered into batches by the
server, embedded by the same ``embed`` every peer calls (``bench/models/minilm.py``).
"""

from __future__ import annotations

from app import batch
from bench.models import minilm

__version__ = minilm.__version__


def load() -> None:
    minilm.load()


@batch
def predict(msgs: list[str]) -> list[list[float]]:
    return minilm.embed(msgs)
