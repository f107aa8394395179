"""MiniLM on BentoML with adaptive batching: ``bentoml serve bench.peers.minilm_bentoml:Embed``.

As BentoML's docs declare a batchable API: ``@bentoml.api(batchable=True, max_batch_size=32)``.
A client sends one sentence per request as a list of one, ``POST /predict`` with
``{"msg": ["..."]}``, and BentoML's adaptive batcher merges concurrent requests into one call of
at most 32. ``max_latency_ms`` is left at BentoML's default (60 s): it is a budget after which
requests are refused, not a wait (the batcher sizes its own wait from the calls it has timed).
One worker (BentoML's default), the model loaded once in it.
"""

from __future__ import annotations

import bentoml

from bench.models import minilm


@bentoml.service(workers=1)
class Embed:
    def __init__(self) -> None:
        minilm.load()

    @bentoml.api(batchable=True, max_batch_size=32)
    def predict(self, msg: list[str]) -> list[list[float]]:
        return minilm.embed(msg)
