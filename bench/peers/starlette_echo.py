"""A reference, not a peer: Starlette on granian's ASGI interface, 2 workers, granian's access log
on. ``granian --interface asgi --workers 2 --access-log bench.peers.starlette_echo:app``.

With ``MODEL_MODULE`` set, ``predict`` runs through ``run_in_threadpool`` (Starlette's own way to
call blocking code: AnyIO's thread pool, 40 threads).
"""

import importlib
import os

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.routing import Route

MODEL_MODULE = os.environ.get("MODEL_MODULE")
model = importlib.import_module(MODEL_MODULE) if MODEL_MODULE else None


async def predict(request):
    msg = request.query_params.get("msg")
    response = msg if model is None else await run_in_threadpool(model.predict, msg)
    return JSONResponse({"response": response, "success": True})


app = Starlette(routes=[Route("/predict", predict, methods=["GET", "POST"])])
