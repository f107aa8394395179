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

__all__ = ["InputError", "batch"]

DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_WAIT_MS = 10

MAX_BATCH_SIZE_LIMIT = 4096
"""The largest ``max_batch_size`` (and ``MAX_BATCH_SIZE``) accepted."""

MAX_WAIT_MS_LIMIT = 10_000
"""The longest ``max_wait_ms`` (and ``MAX_BATCH_WAIT_MS``) accepted: 10 s."""


class InputError(ValueError):
    """Raise it from ``predict`` to refuse an input: the client gets a 422 with its message.

    ``raise InputError("msg must name a known customer")`` answers
    ``{"success": false, "error": "msg must name a known customer"}``. Any other exception is
    the model's failure: a 500 whose details stay in the server log.
    """


def batch(func=None, /, *, max_batch_size=DEFAULT_MAX_BATCH_SIZE, max_wait_ms=DEFAULT_MAX_WAIT_MS):
    """Declare that ``predict`` takes a batch: a list of inputs, returning a list of answers.

    As Ray Serve's ``@serve.batch``, BentoML's ``batchable`` and LitServe's ``max_batch_size``::

        from app import batch


        @batch(max_batch_size=32, max_wait_ms=10)
        def predict(msgs: list[Item]) -> list[Answer]:
            return [answer(m) for m in msgs]

    Each request still sends one ``msg``, validated on its own against ``Item`` (a bad one gets
    its own 422); the server gathers the valid ones into a list of at most ``max_batch_size``.
    While the model runs, requests gather; when it is free it takes up to ``max_batch_size`` at
    once, waiting at most ``max_wait_ms`` after the oldest arrived for more. ``predict`` returns
    one answer per input, in order (a list, a tuple or an array); an answer that is an exception
    fails its own request only (``InputError``: a 422). An exception raised by ``predict`` fails
    that batch's requests only. ``MAX_BATCH_SIZE`` and ``MAX_BATCH_WAIT_MS`` in the server's
    environment override both values.

    ``@batch`` with no arguments takes the defaults (32 and 10 ms). The function is returned
    as it is, so it can still be called with a list in your own tests.

    Args:
        func: The function (when used as ``@batch`` without parentheses).
        max_batch_size: The most inputs per call, 1 to 4096.
        max_wait_ms: The most milliseconds a request waits for others to join it, 0 to 10000.

    Raises:
        ValueError: A value is out of range or not a number.
    """
    if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int):
        raise ValueError(f"batch: max_batch_size={max_batch_size!r} must be an integer")
    if not 1 <= max_batch_size <= MAX_BATCH_SIZE_LIMIT:
        raise ValueError(
            f"batch: max_batch_size={max_batch_size!r} must be from 1 to {MAX_BATCH_SIZE_LIMIT}"
        )
    if isinstance(max_wait_ms, bool) or not isinstance(max_wait_ms, (int, float)):
        raise ValueError(f"batch: max_wait_ms={max_wait_ms!r} must be a number of milliseconds")
    if not 0 <= max_wait_ms <= MAX_WAIT_MS_LIMIT:  # also refuses NaN
        raise ValueError(
            f"batch: max_wait_ms={max_wait_ms!r} must be from 0 to {MAX_WAIT_MS_LIMIT}"
        )

    def declare(function):
        if not callable(function):
            raise ValueError("batch: decorate a function: @batch(...) def predict(msgs): ...")
        function.__batch__ = (max_batch_size, float(max_wait_ms))
        return function

    return declare if func is None else declare(func)
