"""The HTTP contract, as an RSGI application (granian's native interface).

Contract (existing clients depend on it):

* ``GET /predict?msg=Hi`` and ``POST /predict`` with the JSON body ``{"msg": "Hi"}`` answer
  200 ``{"response": "Hi", "success": true}``. ``msg`` comes from the JSON body when the request
  has one, otherwise from the query string (for GET and POST alike). It is validated against
  the model's input schema, if it declares one, before the model is called.
* Every answer carries ``X-Model-Version``. Every answer is JSON; every error is
  ``{"success": false, "error": "..."}``: 400 for a request without ``msg`` or with a body that
  is not a JSON object (malformed, not UTF-8, NaN, cut short, a bad chunk), 404, 405 (with
  ``Allow``), 408 for a body not received within ``BODY_TIMEOUT``, 413 for a body over
  ``MAX_CONTENT_LENGTH``, 415 for a body that is not JSON, 401 (with ``WWW-Authenticate``) for
  a ``/predict`` without a valid key when ``API_KEYS`` is set, 422 for a ``msg`` the schema or the
  model refuses, 500 when the model fails, 503 with ``Retry-After`` when the model is not
  loaded yet or more requests wait for it than the queue holds, 504 when it overruns
  ``TIMEOUT``.
* ``GET /healthz`` (liveness) answers 200 at once while the process runs; ``GET /readyz``
  answers 200 once the model has loaded in this worker, 503 before and after a failed load.
  Neither waits for the model: this event loop answers them while the model thread runs.
* ``GET /openapi.json``: the OpenAPI 3.1 description of all of it.

The body is read in full here, in the event loop, within ``BODY_TIMEOUT``, before the model's
queue is joined: a slow or broken client holds a coroutine, never the model.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import pydantic

from app import InputError
from app.accesslog import escape
from app.contract import ModelSpec, UnsafeNumberError, describe_errors, loads_strict
from app.runner import (
    FAILED,
    BatchFailedError,
    ClientGoneError,
    ModelTimeoutError,
    NotReadyError,
    OverloadedError,
    Runner,
)

JSON = "application/json"

ALLOWED = {
    "/predict": ("GET", "POST"),
    "/healthz": ("GET", "HEAD"),
    "/readyz": ("GET", "HEAD"),
    "/openapi.json": ("GET", "HEAD"),
}

CLIENT_CLOSED = 499
"""The status logged for a client that left before its answer (nginx's "client closed request");
no client ever receives it."""

RETRY_AFTER_SECONDS = 1
"""What a 503 tells a client to wait; a load balancer's retry or a client's backoff takes over."""

_MISSING: Any = object()

OFF_LOOP_BYTES = 64 * 1024
"""A body at least this big is parsed and validated in the worker's JSON thread, not on the
event loop: 1 MB of numbers takes 20-50 ms to parse, and health checks would wait for it."""

SWITCH_INTERVAL_SECONDS = 0.001
"""How long a thread may hold the GIL while another waits for it (Python's default: 5 ms)."""

OFF_LOOP_ITEMS = 1024
"""An answer holding a list at least this long is encoded in the JSON thread, a slice of
``OFF_LOOP_ITEMS`` items at a time (json's C encoder holds the GIL while it runs: slices let the
event loop in between)."""


class HTTPError(Exception):
    """An answer other than 200: the status, the message for ``error`` and extra headers."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class Endpoint:
    """The RSGI application of one worker.

    Args:
        spec: The model, inspected (its schema and version are needed before it loads).
        runner: The model's thread and queue.
        openapi: The OpenAPI document, already encoded.
        max_body: Largest request body in bytes.
        body_timeout: Seconds a client has to send the whole body.
        log: Called once per answer with (scope, status, bytes, seconds, the model's own
            seconds or None).
        api_keys: The keys ``/predict`` requires (``Authorization: Bearer <key>`` or
            ``X-API-Key: <key>``); none: the endpoint is open.
        metrics: Counts every answer, if given (``app.metrics.WorkerMetrics``).
    """

    def __init__(
        self,
        spec: ModelSpec,
        runner: Runner,
        openapi: bytes,
        max_body: int,
        body_timeout: float,
        log: Callable[[Any, int, int, float, float | None], None] | None = None,
        api_keys: tuple[str, ...] = (),
        metrics: Any = None,
    ) -> None:
        self.spec = spec
        self.runner = runner
        self.openapi = openapi
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.log = log
        # Keys are compared as SHA-256 digests with hmac.compare_digest: constant time, and the
        # same length whatever the key, so neither a key's content nor its length leaks.
        self.api_keys = tuple(hashlib.sha256(k.encode()).digest() for k in api_keys)
        self.metrics = metrics
        self.in_flight = 0
        self.headers = [("content-type", JSON), ("x-model-version", spec.version)]
        # numpy and torch values (arrays, tensors, their scalars) become JSON lists and numbers
        # through their own tolist(), without importing either library.
        self._encode = json.JSONEncoder(allow_nan=False, default=_tolist).encode
        # One thread per worker parses big bodies and encodes big answers: at most one such
        # job runs at a time (the others wait their turn, off the loop), so health checks and
        # small requests are never stuck behind them.
        self._json_thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Granian calls it as the worker starts: the model starts loading."""
        self._loop = loop
        self._json_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="json")
        # The JSON and model threads give the GIL up every millisecond rather than every 5:
        # a request takes the GIL several times on its way through the loop, and would wait up
        # to 5 ms each time behind a big body being parsed.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        self.runner.start(loop)
        if self.metrics is not None:
            self.metrics.start(loop)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Granian calls it as the worker stops."""
        self.runner.stop()
        if self._json_thread is not None:
            self._json_thread.shutdown(wait=False, cancel_futures=True)

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        started = time.perf_counter()
        headers = self.headers
        model_seconds = None
        self.in_flight += 1
        try:
            path = scope.path
            if path == "/predict" and scope.method in ("GET", "POST"):
                if self.api_keys:
                    self._authorise(scope)
                body, model_seconds = await self._predict(scope, proto)
                status = 200
            elif path == "/healthz" and scope.method in ("GET", "HEAD"):
                status, body = 200, b'{"status":"ok"}'
            else:
                status, body = 200, self._other(scope)
        except HTTPError as e:
            status = e.status
            body = self._encode({"success": False, "error": e.message}).encode()
            if e.headers:
                headers = [*headers, *e.headers]
        except Exception as e:  # a bug of ours: still a JSON answer, and a traceback in the log
            status, body = 500, b'{"success":false,"error":"internal server error"}'
            _log_exception(f"unhandled error on {scope.method} {scope.path}", e)
        proto.response_bytes(status, headers, body)
        self.in_flight -= 1
        seconds = time.perf_counter() - started
        if self.log is not None:
            self.log(scope, status, len(body), seconds, model_seconds)
        if self.metrics is not None:
            self.metrics.request(scope.path, scope.method, status, seconds)

    def _authorise(self, scope: Any) -> None:
        headers = scope.headers
        given = headers.get("authorization") or ""
        scheme, _, key = given.partition(" ")
        if scheme.lower() != "bearer" or not key:
            key = headers.get("x-api-key") or ""
        digest = hashlib.sha256(key.strip().encode()).digest()
        matched = False
        for wanted in self.api_keys:  # every key compared: the time does not say which matched
            matched |= hmac.compare_digest(digest, wanted)
        if not matched:
            raise HTTPError(
                401,
                "a valid API key is required: send 'Authorization: Bearer <key>'"
                if not given and not headers.get("x-api-key")
                else "the API key is not valid",
                (("www-authenticate", 'Bearer realm="model"'),),
            )

    async def _predict(self, scope: Any, proto: Any) -> tuple[bytes, float]:
        msg, from_query, big = await self._message(scope, proto)
        try:
            if big:
                value = await self._off_loop(self._validate, msg, from_query)
            else:
                value = self._validate(msg, from_query)
        except pydantic.ValidationError as e:
            raise HTTPError(422, describe_errors(e)) from None
        except UnsafeNumberError as e:
            raise HTTPError(400, f"msg is not valid JSON for this model: {e}") from None
        except ValueError as e:  # a number past Python's digit limit in a query's JSON
            raise HTTPError(422, f"msg: {_too_long(e)}") from None
        try:
            # A request whose client leaves while it waits is dropped from the queue, and
            # logged as 499 rather than 200.
            answer, model_seconds = await self.runner.predict(value, proto.client_disconnect)
        except ClientGoneError as e:
            raise HTTPError(CLIENT_CLOSED, str(e)) from None
        except NotReadyError as e:
            if self.runner.state == FAILED:
                # The reason (with the server's paths, maybe) is for /readyz and the log.
                raise HTTPError(503, "model failed to load", _RETRY) from None
            raise HTTPError(503, str(e), _RETRY) from None
        except OverloadedError as e:
            if self.metrics is not None:
                self.metrics.rejected += 1
            raise HTTPError(503, str(e), _RETRY) from None
        except ModelTimeoutError as e:
            raise HTTPError(504, str(e)) from None
        except InputError as e:
            raise HTTPError(422, str(e) or "the model refused this input") from None
        except pydantic.ValidationError as e:  # the model validated part of msg itself
            raise HTTPError(422, describe_errors(e)) from None
        except BatchFailedError as e:
            if not e.logged:  # one log for the whole batch
                e.logged = True
                _log_exception(f"the model failed on a batch of {e.size}", e.error)
            raise HTTPError(
                500,
                "the model failed on the batch this input was in; the server log has the details",
            ) from None
        except BaseException as e:
            _log_exception(f"the model failed on {scope.method} /predict", e)
            raise HTTPError(
                500, "the model failed on this input; the server log has the details"
            ) from None
        try:
            if _is_big(answer):
                return await self._off_loop(self._answer, answer), model_seconds
            return self._answer(answer), model_seconds
        except (ValueError, TypeError, pydantic.ValidationError) as e:
            if isinstance(e, ValueError) and "Out of range float" in str(e):
                _log_exception("the model's answer holds NaN or infinity", e)
                raise HTTPError(
                    500, "the model's answer holds NaN or infinity, which JSON cannot carry"
                ) from None
            _log_exception("the model's answer cannot be sent as JSON of its declared type", e)
            raise HTTPError(
                500, "the model's answer could not be sent; the server log has the details"
            ) from None

    def _validate(self, msg: Any, from_query: bool) -> Any:
        """``msg`` validated; a whole number written as a float (``2.0``) counts as an integer,
        as JSON Schema's ``integer`` (the OpenAPI document's) has it, which pydantic's strict
        mode does not."""
        try:
            return self.spec.validate(msg, from_query)
        except pydantic.ValidationError:
            if from_query and self.spec.query_is_text:
                raise
            try:
                whole, changed = _whole_numbers(loads_strict(msg) if from_query else msg)
            except (ValueError, RecursionError):
                changed = False
            if not changed:
                raise
            try:
                return self.spec.validate(whole, False)
            except pydantic.ValidationError:
                pass
            raise

    def _answer(self, answer: Any) -> bytes:
        """The 200 body for ``answer``, checked against the declared return type if any."""
        if self.spec.output is not None:
            try:
                answer = self.spec.serialise(answer)
            except (ValueError, TypeError):  # pydantic's errors are ValueErrors
                # numpy and torch values the schema's types do not take as they are: as lists.
                answer = self.spec.serialise(_plain(answer))
        if _is_big(answer):
            return _encode_in_slices(self._encode, answer)
        return self._encode({"response": answer, "success": True}).encode()

    async def _off_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in the JSON thread (inline when there is none: a test's endpoint)."""
        if self._json_thread is None or self._loop is None:
            return fn(*args)
        return await self._loop.run_in_executor(self._json_thread, fn, *args)

    async def _message(self, scope: Any, proto: Any) -> tuple[Any, bool, bool]:
        """``msg``, whether it came from the query string, and whether it is big (then it was
        parsed off the loop, and is validated there too)."""
        headers = scope.headers
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if (length is None or length.strip("0") == "") and not chunked:
            return _query_msg(scope.query_string), True, False
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if content_type and not _is_json(content_type):
            raise HTTPError(
                415,
                f"the body's Content-Type is {content_type!r}; send JSON with "
                "'Content-Type: application/json' (curl: -H 'Content-Type: application/json')",
            )
        data = await self._body(proto, None if chunked else int(length))
        big = len(data) >= OFF_LOOP_BYTES
        try:
            body = await self._off_loop(_parse, data) if big else _parse(data)
        except UnicodeDecodeError as e:
            raise HTTPError(400, f"the body is not UTF-8: {e.reason} at byte {e.start}") from None
        except RecursionError:
            raise HTTPError(400, "the body's JSON is nested too deeply") from None
        except ValueError as e:
            raise HTTPError(400, f"the body is not valid JSON: {e}") from None
        if not isinstance(body, dict):
            raise HTTPError(
                400, f'the body must be a JSON object like {{"msg": ...}}, not {_json_type(body)}'
            )
        if "msg" not in body:
            raise HTTPError(400, _NO_MSG)
        return body["msg"], False, big

    async def _body(self, proto: Any, length: int | None) -> bytes:
        """The whole body within ``body_timeout``; ``length`` is its Content-Length, if any."""
        if length is not None and length > self.max_body:
            raise HTTPError(413, f"the body is larger than the limit of {self.max_body} bytes")
        try:
            async with asyncio.timeout(self.body_timeout):
                if length is not None:
                    # Granian raises if the client closes or breaks off before Content-Length
                    # bytes have arrived.
                    return await proto()
                return await self._chunked(proto)
        except TimeoutError:
            raise HTTPError(
                408, f"the body did not arrive within BODY_TIMEOUT={self.body_timeout:g} s"
            ) from None
        except HTTPError:
            raise
        except Exception as e:  # granian's RSGIProtocolClosed / RSGIProtocolError
            raise HTTPError(400, f"the body could not be read ({e})") from None

    async def _chunked(self, proto: Any) -> bytes:
        """A chunked body, refused once it passes ``max_body`` (it has no length to check)."""
        parts: list[bytes] = []
        size = 0
        ended = False
        async for chunk in proto:
            if not chunk:
                # Granian's body iterator yields b"" where the stream ends, and also in place of
                # a read error (src/rsgi/io.rs, __anext__): an empty chunk before the end is a
                # malformed chunk or a client gone mid-body. A chunked body never has an empty
                # data chunk of its own: a zero-size chunk is its end.
                if ended:
                    raise HTTPError(400, "the chunked body is malformed or was cut short")
                ended = True
                continue
            if ended:
                raise HTTPError(400, "the chunked body is malformed or was cut short")
            size += len(chunk)
            if size > self.max_body:
                raise HTTPError(413, f"the body is larger than the limit of {self.max_body} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def _other(self, scope: Any) -> bytes:
        path = scope.path
        allowed = ALLOWED.get(path)
        if allowed is None:
            raise HTTPError(
                404,
                f"no such path: {path} (the endpoints are /predict, /healthz, /readyz and "
                "/openapi.json)",
            )
        if scope.method not in allowed:
            raise HTTPError(
                405,
                f"method {scope.method} is not allowed on {path} (allowed: {', '.join(allowed)})",
                (("allow", ", ".join(allowed)),),
            )
        if path == "/readyz":
            problem = self.runner.not_ready()
            if problem:
                raise HTTPError(503, problem, _RETRY)
            return b'{"status":"ready"}'
        return self.openapi


_RETRY = (("retry-after", str(RETRY_AFTER_SECONDS)),)

_NO_MSG = (
    "missing 'msg': send GET /predict?msg=... or POST /predict with the JSON body {\"msg\": ...}"
)


def _query_msg(query: str) -> Any:
    if not query:
        raise HTTPError(400, _NO_MSG)
    if (
        query.startswith("msg=")
        and query.isascii()
        and "&" not in query
        and "%" not in query
        and "+" not in query
        and ";" not in query
    ):
        return query[4:]  # the usual ?msg=word, without the parser
    # Decode strictly: a query string that is not UTF-8 is refused rather than handed to the
    # model with U+FFFD in place of what the client sent.
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise HTTPError(400, "the query string is not UTF-8 (percent-encode UTF-8 bytes)") from None
    for key, value in pairs:
        if key == "msg":
            return value
    raise HTTPError(400, _NO_MSG)


def _parse(data: bytes) -> Any:
    return loads_strict(data.decode("utf-8"))


def _whole_numbers(value: Any) -> tuple[Any, bool]:
    """``value`` with floats that are whole numbers (``2.0``) as ints, and whether any was."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) <= 2**53:
            return int(value), True
        return value, False
    if isinstance(value, list):
        items = [_whole_numbers(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    if isinstance(value, dict):
        pairs = {k: _whole_numbers(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(c for _, c in pairs.values())
    return value, False


def _tolist(value: Any) -> Any:
    """json's ``default``: numpy arrays and scalars, torch tensors (anything with tolist())."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _plain(value: Any) -> Any:
    """``value`` with numpy and torch values in it turned into Python lists and numbers."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    tolist = getattr(value, "tolist", None)
    return tolist() if callable(tolist) else value


def _is_big(value: Any) -> bool:
    """An answer that takes the JSON encoder long enough to matter (see ``OFF_LOOP_ITEMS``)."""
    if isinstance(value, list):
        return len(value) >= OFF_LOOP_ITEMS
    size = getattr(value, "size", None)  # a numpy array or a torch tensor
    return isinstance(size, int) and size >= OFF_LOOP_ITEMS


def _encode_in_slices(encode: Callable[[Any], str], answer: Any) -> bytes:
    """The 200 body for a long list, encoded a slice at a time (see ``OFF_LOOP_ITEMS``)."""
    if not isinstance(answer, list):
        answer = _tolist(answer)
        if not isinstance(answer, list):
            return encode({"response": answer, "success": True}).encode()
    parts = [
        encode(answer[i : i + OFF_LOOP_ITEMS])[1:-1] for i in range(0, len(answer), OFF_LOOP_ITEMS)
    ]
    return ('{"response": [' + ", ".join(p for p in parts if p) + '], "success": true}').encode()


def _too_long(error: ValueError) -> str:
    if "digits" in str(error):
        return f"a number has more than {sys.get_int_max_str_digits()} digits"
    text = str(error).strip().splitlines()
    return text[0] if text else "not a value this model takes"


def _is_json(mimetype: str) -> bool:
    return mimetype == JSON or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", list: "an array"}.get(type(value), "a number")


def _log_exception(what: str, error: BaseException) -> None:
    """``what`` and the traceback on stderr, with each exception's message escaped as the
    access log escapes what a client sent (a message may quote the client's input: a new line
    in it must not start a forged log line)."""
    import traceback

    report = traceback.TracebackException.from_exception(error)
    seen = set()
    pending = [report]
    while pending:  # the exception and the ones it was raised from or during
        te = pending.pop()
        if id(te) in seen:
            continue
        seen.add(id(te))
        if isinstance(getattr(te, "_str", None), str):
            te._str = escape(te._str)
        pending.extend(x for x in (te.__cause__, te.__context__) if x is not None)
    text = "".join(report.format())
    os.write(2, f"[{os.getpid()}] [ERROR] {escape(what)}\n{text}".encode("utf-8", "replace"))
