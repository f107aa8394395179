"""The model: the one place to put yours.

Replace ``predict`` with your model's inference. Everything else (the HTTP contract, the server,
the image) stays as it is.

``predict`` receives the request's ``msg`` exactly as the client sent it: a string from a query
string (``GET /predict?msg=...``), or any JSON value from a JSON body (``POST /predict`` with
``{"msg": ...}``). What it returns is sent back as ``response`` and must be JSON-serialisable
(convert NumPy arrays with ``.tolist()``). To refuse an input, raise
``werkzeug.exceptions.BadRequest("why")``: the client gets a 400 with that message. Any other
exception becomes a JSON 500 and a traceback in the server log; the client never sees it.

Load weights at module level, not inside ``predict``: this module is imported once per server
worker, when the worker starts and before it answers ``/healthz``, so every request reuses them.
For example::

    from pathlib import Path

    import joblib

    _model = joblib.load(Path(__file__).with_name("model.joblib"))


    def predict(msg):
        return _model.predict([msg]).tolist()[0]
"""

from __future__ import annotations

from typing import Any


def predict(msg: Any) -> Any:
    """Echo the input: the stand-in for a real model.

    Args:
        msg: The request's ``msg``, as sent by the client.

    Returns:
        ``msg`` unchanged.
    """
    return msg
