"""FastAPI on uvicorn, as its docs deploy it: ``uvicorn bench.peers.fastapi_echo:app --workers 2
--loop uvloop --http httptools`` with uvicorn's access log on (one line per request, stdout).

The echo is an ``async def`` endpoint (no blocking work, so it runs on the event loop). With
``MODEL_MODULE`` set, the endpoint is a plain ``def``: FastAPI's default for blocking code runs
it in the worker's thread pool (AnyIO's, 40 threads).
"""

import importlib
import os

from fastapi import FastAPI

app = FastAPI()

if "MODEL_MODULE" in os.environ:
    model = importlib.import_module(os.environ["MODEL_MODULE"])

    @app.get("/predict")
    def predict(msg: str):
        return {"response": model.predict(msg), "success": True}

else:

    @app.get("/predict")
    async def predict(msg: str):
        return {"response": msg, "success": True}
