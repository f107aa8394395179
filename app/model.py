"""The model: the one file to edit. Replace the echo below with yours.

Only ``predict(msg)`` is required. The rest is optional, each in the form the Python ML world
already uses:

* ``load()``: runs once in each server worker before it reports ready (``/readyz``). Load
  weights here, not at import time, so the server answers its health checks while they load.
* The annotation of ``msg`` is the input schema: any type pydantic validates (``str``,
  ``list[float]``, a ``pydantic.BaseModel``, ``Annotated[float, Field(ge=0)]``). A request whose
  ``msg`` does not match gets a 422 naming the field; ``predict`` never sees it. Without an
  annotation, ``msg`` is any JSON value, exactly as the client sent it.
* The return annotation is the answer's schema (checked, and published in ``/openapi.json``).
* ``Field(examples=[...])`` (or a BaseModel's ``json_schema_extra={"examples": [...]}``) gives
  the example input that the docs, ``make test``'s template test and ``make smoke`` send.
* ``__version__`` is sent with every answer as ``X-Model-Version`` and logged with every request.
* ``@app.batch(max_batch_size=32, max_wait_ms=10)`` on ``predict(msgs: list[Item]) ->
  list[Answer]``: each request still sends one ``Item``; the server gathers the requests that
  arrive together into one call, and each gets its own answer (``help(app.batch)``).

To refuse an input, ``raise app.InputError("why")``: the client gets a 422 with that message. Any
other exception is a JSON 500; its traceback goes to the server log, never to the client.
``predict`` runs in one thread per worker, one call at a time: it need not be thread-safe.

A scikit-learn model, for example (``examples/iris`` has the whole thing, with its training
script)::

    from pathlib import Path

    import joblib
    from pydantic import BaseModel, ConfigDict, Field

    __version__ = "iris-1.0.0"
    _model = None


    class Flower(BaseModel):
        model_config = ConfigDict(json_schema_extra={"examples": [{"sepal_length": 5.1, ...}]})
        sepal_length: float = Field(gt=0, description="cm")
        ...


    def load() -> None:
        global _model
        _model = joblib.load(Path(__file__).with_name("model.joblib"))


    def predict(msg: Flower) -> str:
        return _model.predict([[msg.sepal_length, ...]])[0]
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, JsonValue

__version__ = "echo-1"


def predict(msg: Annotated[JsonValue, Field(examples=["Hi"])]) -> JsonValue:
    """Echo the input: the stand-in for a real model.

    Args:
        msg: The request's ``msg``, as sent by the client (any JSON value).

    Returns:
        ``msg`` unchanged.
    """
    return msg
