"""MiniLM on LitServe with batching: ``python -m bench.peers.minilm_litserve PORT``.

As LitServe's docs batch: ``LitAPI(max_batch_size=32, batch_timeout=0.01)`` (the same 10 ms
as ``python -m app``'s default wait), ``LitServer(api, accelerator="cpu")`` with its default
one inference worker. ``POST /predict`` with ``{"msg": "..."}`` answers ``{"embedding": [...]}``.
"""

from __future__ import annotations

import sys

import litserve as ls

from bench.models import minilm


class Embed(ls.LitAPI):
    def setup(self, device: str) -> None:
        minilm.load()

    def decode_request(self, request: dict) -> str:
        return request["msg"]

    def predict(self, texts: list[str]) -> list[list[float]]:
        return minilm.embed(list(texts))

    def encode_response(self, vector: list[float]) -> dict:
        return {"embedding": vector}


if __name__ == "__main__":
    server = ls.LitServer(Embed(max_batch_size=32, batch_timeout=0.01), accelerator="cpu")
    server.run(host="127.0.0.1", port=int(sys.argv[1]), generate_client_file=False)
