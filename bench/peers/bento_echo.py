"""BentoML, served by ``bentoml serve bench.peers.bento_echo:Echo`` (2 workers, BentoML's access log
on, as by default).

BentoML's own ``@bentoml.api`` endpoints answer POST only; the echo contract is
``GET /predict?msg=...``. So the route is a FastAPI route mounted on the service with
``@bentoml.asgi_app`` (BentoML's documented way to add other routes): the request still goes
through ``bentoml serve``'s server, workers and middleware (access log, metrics, tracing). With
``MODEL_MODULE`` set, the route is a plain ``def`` and runs in FastAPI's thread pool.
"""

import importlib
import os

import bentoml
from fastapi import FastAPI

web = FastAPI()
MODEL_MODULE = os.environ.get("MODEL_MODULE")
model = importlib.import_module(MODEL_MODULE) if MODEL_MODULE else None


@bentoml.service(workers=int(os.environ.get("WEB_CONCURRENCY", "2")))
@bentoml.asgi_app(web)
class Echo:
    if model is None:

        @web.get("/predict")
        async def predict(self, msg: str):
            return {"response": msg, "success": True}

    else:

        @web.get("/predict")
        def predict(self, msg: str):
            return {"response": model.predict(msg), "success": True}
