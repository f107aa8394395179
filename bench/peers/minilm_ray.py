"""MiniLM on Ray Serve with ``@serve.batch``: ``python -m bench.peers.minilm_ray PORT``.

As Ray Serve's docs batch: one deployment (one replica, Ray's default) whose request handler
awaits a method decorated ``@serve.batch(max_batch_size=32, batch_wait_timeout_s=0.01)`` (the same
10 ms as ``python -m app``'s default wait). A local Ray started here (``num_cpus`` = the
machine's, no dashboard, its files in a temporary directory), Serve's HTTP proxy on
``127.0.0.1:PORT``. ``POST /predict`` with ``{"msg": "..."}`` answers ``{"embedding": [...]}``.
On SIGTERM it shuts Serve and Ray down and removes Ray's files.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile

import ray
from ray import serve
from starlette.requests import Request

from bench.models import minilm


@serve.deployment
class Embed:
    def __init__(self) -> None:
        minilm.load()

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.01)
    async def embed(self, texts: list[str]) -> list[list[float]]:
        return minilm.embed(texts)

    async def __call__(self, request: Request) -> dict:
        body = await request.json()
        return {"embedding": await self.embed(body["msg"])}


def main(port: int) -> None:
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    # Short (Ray's socket paths are bounded), in the bench's own temporary directory if given.
    temp = tempfile.mkdtemp(prefix="ray-", dir=os.environ.get("RAY_BENCH_DIR", "/tmp"))
    ray.init(num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False, _temp_dir=temp)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(Embed.bind(), route_prefix="/predict")
        while not stopping:
            signal.pause()
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
