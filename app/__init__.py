"""The model endpoint: a Flask app that answers with the predictor's output as JSON.

Contract (existing clients depend on it):

* ``GET /predict?msg=Hi`` and ``POST /predict`` with the JSON body ``{"msg": "Hi"}`` answer
  200 ``{"response": "Hi", "success": true}``. ``msg`` comes from the JSON body when the request
  has a body, otherwise from the query string (for GET and POST alike, as the original
  ``flask.request.args`` did). A JSON ``msg`` of any type is passed to the predictor as it came.
* A request without ``msg`` (``GET /predict``, or a body without the key) answers 400: a typo
  such as ``?mgs=Hi`` must not look like a successful prediction of nothing. ``{"msg": null}``
  is a message, and is echoed.
* ``GET /healthz`` answers 200 without calling the model.
* Every error is JSON ``{"success": false, "error": "..."}``: 4xx for a bad request (malformed
  JSON, a body that is not a JSON object, bytes that are not UTF-8, a body over
  ``MAX_CONTENT_LENGTH`` (413, refused from its Content-Length header before it is read), a
  body whose Content-Type is neither JSON nor absent (415), a wrong method (405), an unknown path
  (404)), and 500 only when the predictor itself fails.

The predictor is ``app.model.predict`` unless ``create_app(config={"PREDICTOR": fn})`` says
otherwise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

__all__ = ["DEFAULT_MAX_CONTENT_LENGTH", "Predictor", "create_app"]

DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024
"""Largest request body accepted, in bytes (1 MiB); larger ones get 413."""

Predictor = Callable[[Any], Any]

_MISSING = object()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the endpoint.

    Args:
        config: Flask config overrides. The app's own keys are ``PREDICTOR`` (a callable taking
            ``msg`` and returning a JSON-serialisable answer; default ``app.model.predict``) and
            ``MAX_CONTENT_LENGTH`` (bytes; default 1 MiB).

    Returns:
        The Flask application.

    Raises:
        TypeError: If ``PREDICTOR`` is not callable.
    """
    app = Flask(__name__)
    app.json = _StrictJSONProvider(app)
    app.config.update(MAX_CONTENT_LENGTH=DEFAULT_MAX_CONTENT_LENGTH, PREDICTOR=None)
    app.config.update(config or {})
    if app.config["PREDICTOR"] is None:
        # Imported here, not at module level, so a model's weights load in each server worker
        # (after the server forks them) rather than in the main process.
        from app.model import predict

        app.config["PREDICTOR"] = predict
    if not callable(app.config["PREDICTOR"]):
        raise TypeError(f"PREDICTOR must be callable, got {app.config['PREDICTOR']!r}")

    app.add_url_rule("/predict", view_func=_predict, methods=["GET", "POST"])
    app.add_url_rule("/healthz", view_func=_healthz, methods=["GET"])
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _server_error)
    return app


def _predict() -> Response:
    msg = _message()
    if msg is _MISSING:
        raise BadRequest(
            "missing 'msg': send GET /predict?msg=... or POST /predict with the JSON body "
            '{"msg": ...}'
        )
    try:
        answer = current_app.config["PREDICTOR"](msg)
        body = current_app.json.dumps({"response": answer, "success": True})
    except HTTPException:
        raise  # the predictor rejected the input itself, e.g. with BadRequest("why")
    except Exception:
        current_app.logger.exception("predictor failed on %s %s", request.method, request.path)
        return _json_error(500, "the model failed on this input; the server log has the details")
    return current_app.response_class(body, mimetype="application/json")


def _healthz() -> Response:
    return current_app.response_class('{"status":"ok"}', mimetype="application/json")


def _message() -> Any:
    """The request's ``msg``: from its JSON body if it has one, else from its query string."""
    environ = request.environ
    if not environ.get("CONTENT_LENGTH") and not environ.get("HTTP_TRANSFER_ENCODING"):
        return _query_msg()  # the usual GET, answered without building request.headers
    has_body = (
        bool(request.content_length)
        or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    )
    if not has_body:
        return _query_msg()
    if request.mimetype and not request.is_json:
        raise UnsupportedMediaType(
            f"the body's Content-Type is {request.mimetype!r}; send JSON with "
            "'Content-Type: application/json' (curl: -H 'Content-Type: application/json')"
        )
    # get_data() refuses a Content-Length over MAX_CONTENT_LENGTH with 413 before reading.
    try:
        data = request.get_data(cache=False)
    except HTTPException:
        raise
    except Exception as e:
        # The WSGI server's own error for a body it cannot read: a malformed chunk, a client
        # that went away mid-body. The client's fault, so a 400, whatever the server's class.
        raise BadRequest(f"the body could not be read: {e}") from e
    if request.content_length is None and len(data) >= current_app.config["MAX_CONTENT_LENGTH"]:
        # A chunked body has no length to check first; Werkzeug stops reading it at the limit
        # and returns what it read without a word, so a body that reaches the limit is refused.
        raise RequestEntityTooLarge()
    try:
        body = current_app.json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BadRequest(f"the body is not UTF-8: {e.reason} at byte {e.start}") from None
    except RecursionError:
        raise BadRequest("the body's JSON is nested too deeply") from None
    except ValueError as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadRequest(
            f'the body must be a JSON object like {{"msg": ...}}, not {_json_type(body)}'
        )
    return body.get("msg", _MISSING)


def _query_msg() -> Any:
    # Werkzeug's request.args would turn bytes that are not UTF-8 into U+FFFD and hand the
    # model a different message than the client sent: decode strictly and refuse instead.
    try:
        pairs = parse_qsl(
            request.query_string.decode("utf-8"), keep_blank_values=True, errors="strict"
        )
    except UnicodeDecodeError:
        raise BadRequest("the query string is not UTF-8 (percent-encode UTF-8 bytes)") from None
    return next((value for key, value in pairs if key == "msg"), _MISSING)


def _http_error(e: HTTPException) -> Response:
    response = e.get_response()  # keeps headers such as 405's Allow
    response.set_data(current_app.json.dumps({"error": _describe(e), "success": False}))
    response.mimetype = "application/json"
    return response


def _server_error(e: Exception) -> Response:
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return _json_error(500, "internal server error; the server log has the details")


def _json_error(status: int, message: str) -> Response:
    body = current_app.json.dumps({"error": message, "success": False})
    return current_app.response_class(body, status=status, mimetype="application/json")


def _describe(e: HTTPException) -> str:
    if e.code == 404:
        return f"no such path: {request.path} (the endpoints are /predict and /healthz)"
    if e.code == 405:
        allowed = e.get_response().headers.get("Allow", "")
        return f"method {request.method} is not allowed on {request.path} (allowed: {allowed})"
    if e.code == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        return f"the body is larger than the limit of {limit} bytes"
    return e.description or e.name


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", list: "an array"}.get(type(value), "a number")


class _StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, minus the non-standard NaN and Infinity.

    Python's json accepts ``NaN``, ``Infinity`` and ``1e400`` (which becomes inf) and writes them
    back as ``NaN``/``Infinity``, which is not JSON: a client's parser would choke on our answer.
    Refusing them on the way in keeps every answer valid JSON.

    ``dumps`` without arguments (every answer) reuses one encoder, built from the provider's
    settings the first time and again whenever they change: what ``json.dumps`` would build for
    each call. The output is the same.
    """

    _encoder: tuple[tuple[Any, ...], json.JSONEncoder] | None = None

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs:
            kwargs.setdefault("allow_nan", False)
            return super().dumps(obj, **kwargs)
        settings = (self.default, self.ensure_ascii, self.sort_keys)
        cached = self._encoder
        if cached is None or cached[0] != settings:
            encoder = json.JSONEncoder(
                default=self.default,
                ensure_ascii=self.ensure_ascii,
                sort_keys=self.sort_keys,
                allow_nan=False,
            )
            self._encoder = cached = (settings, encoder)
        return cached[1].encode(obj)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_constant", _reject_constant)
        kwargs.setdefault("parse_float", _finite_float)
        return super().loads(s, **kwargs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value
