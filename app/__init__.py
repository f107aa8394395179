"""The model endpoint: your model (``app/model.py``) behind our runtime.

* ``app.model``: the user's model; the one file to edit (see its docstring).
* ``app.contract``: what a model module may declare, read once (``ModelSpec``).
* ``app.endpoint``: the HTTP contract, as an RSGI application run by granian.
* ``app.runner``: the model's thread, its queue and TIMEOUT; ``app.metrics``: Prometheus metrics.
* ``app.openapi``: ``GET /openapi.json``, from the model's schema.
* ``app.server``: ``python -m app``: settings from the environment, granian and its workers.
* ``app.accesslog``: the access log, as text or JSON lines.
* ``app.healthcheck``: ``python -m app.healthcheck``, the image's health check.

This module stays free of imports: ``python -m app`` loads it first, in every process.
"""

__all__ = ["InputError"]


class InputError(ValueError):
    """Raise it from ``predict`` to refuse an input: the client gets a 422 with its message.

    ``raise InputError("msg must name a known customer")`` answers
    ``{"success": false, "error": "msg must name a known customer"}``. Any other exception is
    the model's failure: a 500 whose details stay in the server log.
    """
