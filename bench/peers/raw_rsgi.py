"""A reference, not a peer: what a bare handler serves. A granian RSGI handler with no framework:
it answers ``/predict`` with the echo JSON and anything else with 404. ``granian --interface
rsgi --workers 2 --access-log bench.peers.raw_rsgi:app``.

With ``MODEL_MODULE`` set, ``predict`` runs in one thread per worker (a one-thread executor), as
``python -m app`` runs its model, so the event loop stays free.
"""

import asyncio
import importlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

MODEL_MODULE = os.environ.get("MODEL_MODULE")
model = importlib.import_module(MODEL_MODULE) if MODEL_MODULE else None
executor = ThreadPoolExecutor(max_workers=1) if model else None
HEADERS = [("content-type", "application/json")]


async def app(scope, proto):
    if scope.proto != "http" or scope.path != "/predict":
        proto.response_bytes(404, HEADERS, b'{"success":false,"error":"not found"}')
        return
    msg = parse_qs(scope.query_string).get("msg", [None])[0]
    if model is not None:
        msg = await asyncio.get_running_loop().run_in_executor(executor, model.predict, msg)
    body = json.dumps({"response": msg, "success": True}).encode()
    proto.response_bytes(200, HEADERS, body)
