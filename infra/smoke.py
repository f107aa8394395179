"""Checks a live endpoint's contract, for any model, any stack or any address.

    python -m infra.smoke http://localhost:8080       # any address (`make smoke URL=...`)
    python -m infra.smoke --stack dev                 # the url output of a stack (`make smoke`)
    python -m infra.smoke URL --input '{"petal_length": 1.4, "petal_width": 0.2}'

The contract is the one `app/endpoint.py`'s docstring states and docs/reference/endpoint.md
shows. The checks, in order:

* `GET /healthz` (liveness) and `GET /readyz` (readiness: the model has loaded) answer 200;
* `GET /openapi.json` answers 200 with an OpenAPI 3.1 document;
* `POST /predict` with `{"msg": <input>}` answers 200 `{"response": ..., "success": true}` with an
  `X-Model-Version` header (its value is printed). The input is `--input`'s, else the model's own
  example from the document (`requestBody`'s `examples[0].msg`). `GET /predict?msg=...` is
  checked too when the document says how the input goes in a query string: the parameter's
  `example` for a text input, the JSON-encoded input for a structured one (`?msg=[1,2,3]`).
  Without an example, the input is made from the document's schema for `msg` (its smallest
  valid value: see `schema_instance`); when none can be made (a model that takes any JSON), the
  prediction check fails, saying how to declare an example;
* when the answer to that input is the input itself, the model is taken for an echo (the shipped
  stand-in), and if it takes any text, a non-ASCII message with a space and an ampersand must
  come back unchanged by GET and POST: that catches a proxy or client that mangles encodings.
  No other model is asked to echo anything;
* `GET /predict` without `msg` answers a 4xx JSON error `{"success": false, ...}`, with the
  `X-Model-Version` header every answer carries.

With `--api-key KEY` (or `$ECHO_API_KEY`) every request carries `Authorization: Bearer KEY`, as
an endpoint with `API_KEYS` set requires on `/predict`; the key is never printed.

A fresh load balancer or container takes a while to answer, so each check is retried with
backoff until it passes or the overall `--timeout` runs out; every check is still tried once
after that, so the report is complete. One exception: on this machine (localhost, a loopback
address), a port that refuses connections for `LOCAL_REFUSED_SECONDS` before it ever answered
has nothing listening on it, and the smoke stops there and says so instead of waiting minutes.

Exit status: 0 when every check passed, 1 when one failed, 2 when the smoke could not start (bad
arguments, no Pulumi CLI, no `url` output). Standard library only: it runs before `make install`.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import math
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

# A new ALB registers its first targets in one to two minutes; a local container is up in seconds.
DEFAULT_TIMEOUT = 180.0
# On this machine, a port refusing connections this long, before anything answered on it, has
# nothing listening: `make serve` binds its port in well under a second, and the local stack's
# `make up` returns only once the container is healthy.
LOCAL_REFUSED_SECONDS = 5.0
# One request's limit; a model's first answer after a cold start can be slow.
REQUEST_TIMEOUT = 10.0
MIN_REQUEST_TIMEOUT = 2.0
# Backoff between attempts of one check: 0.25 s, doubling, at most 5 s.
BACKOFF_FIRST = 0.25
BACKOFF_MAX = 5.0
# No answer, a 5xx (a load balancer with no healthy target yet, a model still loading) or a 429
# may pass later and is retried until the timeout. A wrong answer from a running endpoint will
# not fix itself: it gets this many attempts (a rollout may still be replacing an old version)
# and then fails. So does the runtime's own final word: a 500 (the model failed on the input)
# or a 503 saying the model failed to load.
WRONG_ANSWER_ATTEMPTS = 3
# How /readyz and /predict word a failed load (app/runner.py): final, not retried for minutes.
LOAD_FAILED_WORDS = ("failed to load", "refusing to load", "cannot be read")
# How much of an answer is read, and shown when it is wrong or in a check's name.
MAX_BODY_BYTES = 64 * 1024
EXCERPT_CHARS = 200
NAME_CHARS = 80
# Non-ASCII, a space and an ampersand: breaks any step that mangles encoding or query strings.
MESSAGE = "Héllo wörld ✓ 你好 & co"
# The OpenAPI version the endpoint publishes (`app/openapi.py`).
OPENAPI_MAJOR_MINOR = "3.1."
VERSION_HEADER = "x-model-version"
API_KEY_ENV = "ECHO_API_KEY"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PULUMI_INSTALL_URL = "https://www.pulumi.com/docs/install/"


@dataclass(frozen=True)
class Answer:
    """What one request got: a status, headers (lower-case names) and body, or why there was
    none (`refused` when the connection was refused)."""

    status: int | None = None
    body: str = ""
    error: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    refused: bool = False


@dataclass(frozen=True)
class Check:
    """One request and what its answer must be.

    Attributes:
        name: How the check is shown, e.g. `GET /healthz`.
        method: The HTTP method.
        path: Path and query, appended to the endpoint's URL.
        body: A JSON document to send, or None.
        verify: Returns None when the answer is right, else what is wrong with it.
    """

    name: str
    method: str
    path: str
    body: Any
    verify: Callable[[Answer], str | None]


@dataclass(frozen=True)
class Result:
    """The outcome of one check after its retries, with the last answer."""

    check: Check
    problem: str | None
    attempts: int
    seconds: float
    answer: Answer

    @property
    def passed(self) -> bool:
        return self.problem is None

    @property
    def status(self) -> int | None:
        return self.answer.status


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "...")


def _shorten(text: str, limit: int = NAME_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _compact(value: Any) -> str:
    """JSON as it goes in a query string: ?msg=[1,2,3]."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _status_problem(answer: Answer, expected: str, ok: Callable[[int], bool]) -> str | None:
    if answer.status is None:
        return answer.error
    if not ok(answer.status):
        return f"status {answer.status}, expected {expected}; body {_excerpt(answer.body)}"
    return None


def _json(answer: Answer) -> Any:
    try:
        return json.loads(answer.body)
    except ValueError:
        return None


def expect_status_200(answer: Answer) -> str | None:
    """A health check: any body, status 200."""
    return _status_problem(answer, "200", lambda s: s == 200)


def expect_openapi(answer: Answer) -> str | None:
    """`/openapi.json`: 200 and an OpenAPI 3.1 document that describes `/predict`."""
    problem = expect_status_200(answer)
    if problem:
        return problem
    data = _json(answer)
    if not isinstance(data, dict):
        return f"expected an OpenAPI document (a JSON object); got {_excerpt(answer.body)}"
    version = data.get("openapi")
    if not (isinstance(version, str) and version.startswith(OPENAPI_MAJOR_MINOR)):
        return f'expected an OpenAPI 3.1 document ("openapi": "3.1.x"); got "openapi": {version!r}'
    if not isinstance(data.get("paths"), dict) or "/predict" not in data["paths"]:
        return "the OpenAPI document does not describe /predict"
    return None


def _version_problem(answer: Answer) -> str | None:
    if not answer.headers.get(VERSION_HEADER, "").strip():
        return "no X-Model-Version header in the answer (every answer carries the model's version)"
    return None


def expect_prediction(answer: Answer) -> str | None:
    """A prediction: 200, a JSON object with `response` and `success` true, X-Model-Version."""
    if answer.status in (401, 403):
        return (
            f"status {answer.status}: the endpoint refused the request for want of a valid API "
            f"key (give one with --api-key KEY or ${API_KEY_ENV}); body {_excerpt(answer.body)}"
        )
    problem = _status_problem(answer, "200", lambda s: s == 200)
    if problem:
        return problem
    data = _json(answer)
    if not (isinstance(data, dict) and "response" in data and data.get("success") is True):
        return (
            'expected a JSON object {"response": ..., "success": true}; '
            f"got {_excerpt(answer.body)}"
        )
    return _version_problem(answer)


def expect_echo(message: str) -> Callable[[Answer], str | None]:
    """An echo's prediction: as `expect_prediction`, and `response` == message."""

    def verify(answer: Answer) -> str | None:
        problem = expect_prediction(answer)
        if problem:
            return problem
        if _json(answer).get("response") != message:
            wanted = _dumps({"response": message, "success": True})
            return f"expected the echo's answer {wanted}; got {_excerpt(answer.body)}"
        return None

    return verify


def expect_bad_request(answer: Answer) -> str | None:
    """A bad request: a 4xx status, a JSON object with `success` false, X-Model-Version."""
    problem = _status_problem(answer, "a 4xx", lambda s: 400 <= s < 500)
    if problem:
        return problem
    data = _json(answer)
    if not (isinstance(data, dict) and data.get("success") is False):
        return f'expected a JSON error {{"success": false, ...}}; got {_excerpt(answer.body)}'
    return _version_problem(answer)


def health_checks() -> list[Check]:
    """What needs no input: liveness, readiness and the OpenAPI document, in this order."""
    return [
        Check("GET /healthz", "GET", "/healthz", None, expect_status_200),
        Check("GET /readyz", "GET", "/readyz", None, expect_status_200),
        Check("GET /openapi.json", "GET", "/openapi.json", None, expect_openapi),
    ]


def bad_request_check() -> Check:
    """A request without `msg`."""
    return Check("GET /predict without msg", "GET", "/predict", None, expect_bad_request)


def get_check(query_value: str, verify: Callable[[Answer], str | None]) -> Check:
    """`GET /predict?msg=<query_value>`, percent-encoded."""
    query = urllib.parse.urlencode({"msg": query_value})
    name = _shorten(f"GET /predict?msg={query_value}")
    return Check(name, "GET", f"/predict?{query}", None, verify)


def post_check(value: Any, verify: Callable[[Answer], str | None]) -> Check:
    """`POST /predict` with the JSON body `{"msg": value}`."""
    name = _shorten(f"POST /predict {_dumps({'msg': value})}")
    return Check(name, "POST", "/predict", {"msg": value}, verify)


def echo_checks(message: str = MESSAGE) -> list[Check]:
    """An echo's round trip of `message` by GET and by POST."""
    return [get_check(message, expect_echo(message)), post_check(message, expect_echo(message))]


@dataclass(frozen=True)
class Given:
    """An input given with `--input` (a wrapper, as the input itself may be JSON null)."""

    value: Any


@dataclass(frozen=True)
class Inputs:
    """What the prediction checks send, and why a part of them is left out.

    Attributes:
        value: The input (`msg`), for POST.
        source: Where it comes from, as shown: `--input` or the model's example.
        query: The `msg` query value for GET, or None when GET is not checked.
        no_query: Why GET is not checked, when it is not.
        takes_text: The query parameter takes any text (an echo can round-trip a message).
    """

    value: Any
    source: str
    query: str | None
    no_query: str | None
    takes_text: bool


def _path(data: Any, *keys: str | int) -> Any:
    """`data[k1][k2]...`, or None where a step is missing or of the wrong type."""
    for key in keys:
        if isinstance(key, int):
            if not (isinstance(data, list) and len(data) > key):
                return None
        elif not (isinstance(data, dict) and key in data):
            return None
        data = data[key]
    return data


# A schema with only these keys and "type": "string" accepts any text.
_ANNOTATIONS = {"type", "title", "description", "examples"}


def choose_inputs(document: Any, given: Given | None) -> Inputs | str:
    """What to send to `/predict`, from `--input` or the OpenAPI document's example.

    Args:
        document: The endpoint's OpenAPI document, or None when it could not be read.
        given: The `--input` value, or None.

    Returns:
        The inputs, or why there are none (no `--input` and no example in the document).
    """
    param = None
    for candidate in _path(document, "paths", "/predict", "get", "parameters") or ():
        if _path(candidate, "name") == "msg" and _path(candidate, "in") == "query":
            param = candidate
    query_is_json = _path(param, "content", "application/json") is not None
    text_schema = _path(param, "schema")
    takes_text = (
        isinstance(text_schema, dict)
        and text_schema.get("type") == "string"
        and set(text_schema) <= _ANNOTATIONS
    )
    if given is not None:
        value, source = given.value, "--input"
        if document is None:
            return Inputs(
                value,
                source,
                None,
                "no OpenAPI document says how msg goes in a query string",
                False,
            )
        if query_is_json:
            return Inputs(value, source, _compact(value), None, takes_text)
        if param is None:
            why = "the OpenAPI document describes no query parameter msg"
            return Inputs(value, source, None, why, takes_text)
        if isinstance(value, str):
            return Inputs(value, source, value, None, takes_text)
        why = "--input is not text, and the model's query parameter msg takes text"
        return Inputs(value, source, None, why, takes_text)

    if document is None:
        return (
            "no OpenAPI document to read the model's example input from, and no --input: "
            "predictions are not checked"
        )
    examples = _path(document, *_BODY_SCHEMA, "examples")
    example = _path(examples, 0)
    value, source = _path(example, "msg"), "the model's example"
    if not (isinstance(example, dict) and "msg" in example):
        msg_schema = _path(document, *_BODY_SCHEMA, "properties", "msg")
        made = schema_instance(msg_schema, _path(document, "components", "schemas") or {})
        if made is NO_INSTANCE:
            return (
                "the model declares no example input, and none can be made from its schema "
                f"{_shorten(_dumps(msg_schema))}: declare one in app/model.py "
                "(Field(examples=[...]) on predict's msg) or give --input JSON"
            )
        value, source = made, "made from the model's schema: it declares no example"
    if query_is_json:
        return Inputs(value, source, _compact(value), None, takes_text)
    query_example = _path(param, "example") if source == "the model's example" else value
    if isinstance(query_example, str):
        return Inputs(value, source, query_example, None, takes_text)
    return Inputs(value, source, None, "the document gives no query example for msg", takes_text)


_BODY_SCHEMA = ("paths", "/predict", "post", "requestBody", "content", "application/json", "schema")

NO_INSTANCE: Any = object()
"""`schema_instance`'s answer when it cannot make one."""

_REF = "#/components/schemas/"
_FORMATS = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00Z",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "email": "someone@example.com",
    "uri": "https://example.com/",
}


def schema_instance(schema: Any, components: Mapping[str, Any], depth: int = 0) -> Any:
    """A small value that `schema` (JSON Schema, as an OpenAPI 3.1 document has it) accepts, for
    a model that declares no example: its default or first enum value, the lower bound of a
    number, a text of the shortest allowed length, one item of a list, an object's required
    fields. `NO_INSTANCE` when the schema allows anything (no type: nothing says what the model
    needs), or is beyond this (a pattern, `not`).
    """
    if not isinstance(schema, dict) or depth > 20 or not schema or "not" in schema:
        return NO_INSTANCE
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = components.get(ref[len(_REF) :]) if ref.startswith(_REF) else None
        return schema_instance(target, components, depth + 1)
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    for key in ("examples", "enum"):
        if isinstance(schema.get(key), list) and schema[key]:
            return schema[key][0]
    branches = schema.get("oneOf") or schema.get("anyOf") or schema.get("allOf")
    if isinstance(branches, list):
        for branch in sorted(branches, key=lambda b: _path(b, "type") == "null"):
            made = schema_instance(branch, components, depth + 1)
            if made is not NO_INSTANCE:
                return made
        return NO_INSTANCE
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "string":
        if "pattern" in schema:
            return NO_INSTANCE
        if schema.get("format") in _FORMATS:
            return _FORMATS[schema["format"]]
        low, high = schema.get("minLength", 1), schema.get("maxLength", 2**31)
        return ("example" * (1 + low // 7))[: max(low, min(7, high))]
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        prefix = [schema_instance(s, components, depth + 1) for s in schema.get("prefixItems", [])]
        count = max(schema.get("minItems", 1), len(prefix))
        count = min(count, schema.get("maxItems", count))
        if NO_INSTANCE in prefix:
            return NO_INSTANCE
        item = schema_instance(schema.get("items", {}), components, depth + 1)
        if len(prefix) < count and item is NO_INSTANCE:
            return NO_INSTANCE
        return (prefix + [item] * count)[:count]
    if kind == "object":
        fields = schema.get("properties", {})
        made = {
            k: schema_instance(fields.get(k), components, depth + 1)
            for k in schema.get("required", [])
        }
        return NO_INSTANCE if NO_INSTANCE in made.values() else made
    return NO_INSTANCE


def _number(schema: Mapping[str, Any], integer: bool) -> Any:
    """1 when the bounds allow it, else the nearest allowed value to it."""
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    step = 1 if integer else 0.5
    value = 1 if integer else 1.0
    if isinstance(low, (int, float)) and value <= low:
        value = low + (step if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
    if isinstance(high, (int, float)) and value >= high:
        value = high - (step if "exclusiveMaximum" in schema and "maximum" not in schema else 0)
    return math.ceil(value) if integer else value


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: 1 and 1.0 are the same number, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _describe_error(error: BaseException, timeout: float) -> str:
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name ({error.strerror})"
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        return f"TLS error: {error}"
    if isinstance(error, urllib.error.URLError):
        return f"request failed: {error.reason}"
    return f"request failed: {type(error).__name__}: {error}"


def _is_refused(error: BaseException) -> bool:
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason
    return isinstance(error, ConnectionRefusedError)


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine (localhost or a loopback address)."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_this_machine(url: str) -> bool:
    """Whether connecting to the URL's host reaches this machine: loopback, or 0.0.0.0 / ::."""
    if is_loopback(url):
        return True
    try:
        return ipaddress.ip_address(urllib.parse.urlsplit(url).hostname or "").is_unspecified
    except ValueError:
        return False


def host_and_port(url: str) -> str:
    """`host:port` of the URL, the scheme's default port when it names none."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def make_opener(url: str) -> urllib.request.OpenerDirector:
    """An opener for the endpoint: proxies from the environment, except for this machine.

    urllib sends even `localhost` through HTTP_PROXY when NO_PROXY does not list it, and a
    corporate proxy cannot reach a laptop's loopback interface.
    """
    if is_this_machine(url):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def fetch(
    opener: urllib.request.OpenerDirector,
    url: str,
    check: Check,
    timeout: float,
    api_key: str | None = None,
) -> Answer:
    """Sends one check's request and returns the answer, never raising for network errors.

    The API key goes as `Authorization: Bearer KEY`, never to where a redirect points (urllib
    does not copy an "unredirected" header), and is blanked out of what the answer's body says.
    """
    headers = {"Accept": "application/json", "User-Agent": "echo-service-smoke"}
    data = None
    if check.body is not None:
        data = json.dumps(check.body, ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(
        url + check.path, data=data, headers=headers, method=check.method
    )
    if api_key:
        request.add_unredirected_header("Authorization", f"Bearer {api_key}")

    def answer(status: int, response: Any) -> Answer:
        body = response.read(MAX_BODY_BYTES).decode("utf-8", "replace")
        if api_key:
            body = body.replace(api_key, "***")
        found = {k.lower(): v for k, v in response.headers.items()}
        return Answer(status, body, headers=found)

    try:
        with opener.open(request, timeout=timeout) as response:
            return answer(response.status, response)
    except urllib.error.HTTPError as error:  # a 4xx or 5xx answer: still an answer
        with error:
            return answer(error.code, error)
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Answer(error=_describe_error(error, timeout), refused=_is_refused(error))


def is_final(answer: Answer) -> bool:
    """Whether a 5xx is the endpoint's own last word, which no retry will change: a 500 in the
    runtime's JSON envelope (the model failed on this input), or a 503 saying the model failed
    to load (the runtime's words for a ``load()`` that raised, or weights missing or not the
    expected file). A load balancer's 5xx, or a model still loading, is not."""
    data = _json(answer)
    if not (isinstance(data, dict) and data.get("success") is False):
        return False
    error = str(data.get("error", ""))
    return answer.status == 500 or (
        answer.status == 503 and any(words in error for words in LOAD_FAILED_WORDS)
    )


def is_transient(answer: Answer) -> bool:
    """Whether a failed answer may pass later: no answer yet, a 5xx that is not final (see
    `is_final`), or throttling."""
    if answer.status is None or answer.status == 429:
        return True
    return answer.status >= 500 and not is_final(answer)


class NothingListensError(Exception):
    """A port on this machine refused every connection and never answered."""


class Runner:
    """Runs checks against one endpoint within one overall deadline.

    Args:
        url: The endpoint, without a trailing slash.
        timeout: Seconds, overall, for every check to pass.
        out: Where progress goes, one line per check and per new reason to wait.
        api_key: Sent as `Authorization: Bearer KEY` with every request, or None.
        clock: Monotonic seconds (tests may replace it).
        sleep: Waits between attempts (tests may replace it).
    """

    def __init__(
        self,
        url: str,
        timeout: float,
        out: TextIO,
        *,
        api_key: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.out = out
        self.api_key = api_key
        self.clock = clock
        self.sleep = sleep
        self.opener = make_opener(url)
        self.started = clock()
        self.deadline = self.started + timeout
        self.local = is_this_machine(url)
        # Whether anything has answered in this run: a port that answered once and then refuses
        # is restarting, and gets the whole timeout.
        self.answered = False

    def run(self, check: Check) -> Result:
        """Runs one check, retried with backoff until it passes or gives up.

        It gives up when the overall time runs out, or after `WRONG_ANSWER_ATTEMPTS` wrong
        answers from a running endpoint; it is tried at least once, so a report lists every
        check even when an earlier one used up the time.

        Raises:
            NothingListensError: the endpoint is on this machine, refused every connection for
                `LOCAL_REFUSED_SECONDS` and never answered.
        """
        clock = self.clock
        started = clock()
        attempts, wrong, delay, shown = 0, 0, BACKOFF_FIRST, None
        while True:
            attempts += 1
            request_timeout = min(
                REQUEST_TIMEOUT, max(self.deadline - clock(), MIN_REQUEST_TIMEOUT)
            )
            answer = fetch(self.opener, self.url, check, request_timeout, self.api_key)
            self.answered |= answer.status is not None
            problem = check.verify(answer)
            wrong += problem is not None and not is_transient(answer)
            remaining = self.deadline - clock()
            refused_for = clock() - self.started
            nothing_listens = answer.refused and self.local and not self.answered
            if nothing_listens and (refused_for >= LOCAL_REFUSED_SECONDS or remaining <= 0):
                raise NothingListensError(
                    f"nothing listens on {host_and_port(self.url)} (connection refused for "
                    f"{refused_for:.1f} s): start the endpoint with `make serve`, or `make up` for "
                    "the local stack, or give the address it listens on"
                )
            if problem is None or remaining <= 0 or wrong >= WRONG_ANSWER_ATTEMPTS:
                break
            if problem != shown:
                why = (
                    f"retrying for up to {remaining:.0f} s"
                    if is_transient(answer)
                    else "retrying in case an old version is still answering"
                )
                if nothing_listens:
                    left = min(LOCAL_REFUSED_SECONDS - refused_for, remaining)
                    why = f"retrying for up to {left:.0f} s"
                print(f"  wait  {check.name}: {problem}; {why}", file=self.out)
                shown = problem
            pause = min(delay, remaining)
            if nothing_listens:  # the last attempt lands when LOCAL_REFUSED_SECONDS is up
                pause = min(pause, max(LOCAL_REFUSED_SECONDS - refused_for, 0.0))
            self.sleep(pause)
            delay = min(delay * 2, BACKOFF_MAX)
        result = Result(check, problem, attempts, clock() - started, answer)
        if result.passed:
            detail = _detail(answer) if check.path.startswith("/predict") else ""
            print(f"  PASS  {check.name} -> {answer.status}{detail}", file=self.out)
        else:
            print(f"  FAIL  {check.name}: {problem}", file=self.out)
        self.out.flush()
        return result


def _detail(answer: Answer) -> str:
    """What a passing prediction answered, and the model's version."""
    version = answer.headers.get(VERSION_HEADER)
    data = _json(answer)
    text = ""
    if isinstance(data, dict) and data.get("success") is True and "response" in data:
        text = " " + _shorten(_dumps(data["response"]))
    if version:
        text += f" (X-Model-Version {version})"
    return text


def run_checks(
    url: str,
    checks: Sequence[Check],
    timeout: float,
    out: TextIO,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Result]:
    """Runs fixed checks in order within one deadline (see `Runner.run`)."""
    runner = Runner(url, timeout, out, clock=clock, sleep=sleep)
    return [runner.run(check) for check in checks]


def smoke(
    url: str,
    timeout: float,
    out: TextIO,
    *,
    given: Given | None = None,
    api_key: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[Result], list[str]]:
    """Runs the whole smoke against `url`: the health checks, then predictions of the input
    (`given`, else the example the OpenAPI document declares), then a request without `msg`.

    Returns:
        The results, and notes on what was not checked and why.

    Raises:
        NothingListensError: nothing listens on the port, on this machine.
    """
    runner = Runner(url, timeout, out, api_key=api_key, clock=clock, sleep=sleep)
    notes: list[str] = []

    def note(text: str) -> None:
        print(f"  note  {text}", file=out)
        notes.append(text)

    results = [runner.run(check) for check in health_checks()]
    openapi = results[-1]
    inputs = choose_inputs(_json(openapi.answer) if openapi.passed else None, given)
    if isinstance(inputs, str) and openapi.passed:
        # The document was read and says nothing to send: a model no one can check is a failure,
        # not a pass with a note.
        unchecked = Check("POST /predict", "POST", "/predict", None, expect_prediction)
        print(f"  FAIL  {unchecked.name}: {inputs}", file=out)
        results.append(Result(unchecked, inputs, 0, 0.0, Answer()))
    elif isinstance(inputs, str):
        note(inputs)
    else:
        print(f"  input {_shorten(_dumps(inputs.value))} ({inputs.source})", file=out)
        posted = runner.run(post_check(inputs.value, expect_prediction))
        results.append(posted)
        if inputs.query is not None:
            results.append(runner.run(get_check(inputs.query, expect_prediction)))
        else:
            note(f"GET /predict?msg=... not checked: {inputs.no_query}")
        answer = _json(posted.answer) if posted.passed else None
        if isinstance(answer, dict) and same_json(answer.get("response"), inputs.value):
            if inputs.takes_text:
                print(
                    "  echo  the model answered its input back unchanged: taken for an echo, "
                    "so a non-ASCII message must come back unchanged too",
                    file=out,
                )
                results.extend(runner.run(check) for check in echo_checks())
            else:
                print("  echo  the model answered its input back unchanged", file=out)
    results.append(runner.run(bad_request_check()))
    return results, notes


def model_version(results: Sequence[Result]) -> str | None:
    """The X-Model-Version of the first passing prediction, if any."""
    for r in results:
        version = r.answer.headers.get(VERSION_HEADER)
        if r.passed and r.check.path.startswith("/predict") and r.status == 200 and version:
            return version
    return None


def report(
    url: str, results: Sequence[Result], out: TextIO, err: TextIO, notes: Sequence[str] = ()
) -> int:
    """Prints the summary and returns the exit status."""
    failed = [r for r in results if not r.passed]
    version = model_version(results)
    if version:
        print(f"smoke: model version {version}", file=out)
    if not failed:
        line = f"smoke: all {len(results)} checks passed against {url}"
        if notes:
            line += f" ({len(notes)} note{'s' if len(notes) != 1 else ''} above: not all checked)"
        print(line, file=out)
        return EXIT_OK
    print(f"smoke: {len(failed)} of {len(results)} checks failed against {url}:", file=err)
    for r in failed:
        tries = f"{r.attempts} attempt{'s' if r.attempts != 1 else ''} over {r.seconds:.1f} s"
        print(f"  - {r.check.name}: {r.problem} ({tries})", file=err)
    return EXIT_FAILED


def url_problem(url: str) -> str | None:
    """Why `url` cannot be smoke-tested, or None: it must be http(s)://host[:port][/path]."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as error:
        return f"{url!r} is not a valid URL ({error})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http:// or https:// URL with a host, e.g. http://localhost:8080"
    if parts.query or parts.fragment:
        return f"{url!r} must not have a query or fragment: give the endpoint's base URL"
    return None


class CliError(Exception):
    """The smoke cannot start: shown as one line, exit status 2."""


def stack_url(stack: str, run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str:
    """The `url` output of a Pulumi stack, read with the Pulumi CLI.

    Raises:
        CliError: the CLI is missing, fails, or the stack has no url output.
    """
    command = ["pulumi", "stack", "output", "url", "--stack", stack]
    try:
        done = run(command, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError:
        raise CliError(
            "the Pulumi CLI is not installed (no `pulumi` on PATH): install it from "
            f"{PULUMI_INSTALL_URL}, or pass the endpoint's URL instead of --stack"
        ) from None
    except subprocess.TimeoutExpired:
        raise CliError(f"`{' '.join(command)}` did not finish within 120 s") from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {done.returncode}"
        raise CliError(f"cannot read the url output of stack '{stack}': {detail}")
    url = done.stdout.strip()
    if not url:
        raise CliError(f"stack '{stack}' has no url output: deploy it first (`make up`)")
    problem = url_problem(url)
    if problem:
        raise CliError(f"the url output of stack '{stack}': {problem}")
    return url


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds greater than 0")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_input(text: str) -> Given:
    try:
        return Given(json.loads(text, parse_constant=_reject_constant))
    except (ValueError, RecursionError) as error:
        raise argparse.ArgumentTypeError(
            f"{_shorten(text)!r} is not JSON ({error}); the input is the JSON value of msg: "
            "text is quoted, e.g. --input '\"Hi\"', an object --input '{\"petal_length\": 1.4}'"
        ) from None


def api_key_problem(key: str) -> str | None:
    """Why `key` cannot go in an HTTP header, or None. The key itself is never shown."""
    if not key.strip():
        return "the key is empty"
    if key != key.strip():
        return "the key starts or ends with white space"
    if any(not (0x21 <= ord(c) <= 0x7E) for c in key):
        return "the key has a character other than printable ASCII without spaces"
    return None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parses the command line; exits with status 2 and a message naming the bad argument."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.smoke",
        description="Check a live echo-service endpoint, whatever its model: /healthz, /readyz, "
        "/openapi.json, GET and POST /predict with the model's example input (or --input), and "
        "a bad request. Exit status 0: all passed, 1: a check failed, 2: could not start.",
    )
    parser.add_argument(
        "url", nargs="?", metavar="URL", help="the endpoint's base URL, e.g. http://localhost:8080"
    )
    parser.add_argument(
        "--stack", metavar="NAME", help="read the URL from this stack's `url` output (Pulumi CLI)"
    )
    parser.add_argument(
        "--input",
        type=_json_input,
        metavar="JSON",
        help="the msg to predict, as JSON (text is quoted: '\"Hi\"'); default: the model's "
        "example input from the endpoint's /openapi.json",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"sent as `Authorization: Bearer KEY` (default: ${API_KEY_ENV}); never printed",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long, overall, the checks may take to pass (default {DEFAULT_TIMEOUT:g})",
    )
    args = parser.parse_args(argv)
    if args.url is not None and args.stack is not None:
        parser.error("give either URL or --stack NAME, not both")
    if args.url is None and args.stack is None:
        parser.error("give the endpoint's URL (e.g. http://localhost:8080) or --stack NAME")
    if args.url is not None:
        problem = url_problem(args.url)
        if problem:
            parser.error(f"argument URL: {problem}")
    if args.api_key is not None:
        problem = api_key_problem(args.api_key)
        if problem:
            parser.error(f"argument --api-key: {problem}")
    elif os.environ.get(API_KEY_ENV):
        args.api_key = os.environ[API_KEY_ENV]
        problem = api_key_problem(args.api_key)
        if problem:
            parser.error(f"${API_KEY_ENV}: {problem}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the smoke from the command line and returns the exit status."""
    args = parse_args(argv)
    try:
        url = args.url if args.url is not None else stack_url(args.stack)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    url = url.rstrip("/")
    print(f"smoke: checking {url} (retrying for up to {args.timeout:g} s)", flush=True)
    if args.api_key:
        where = "Authorization: Bearer <key>"
        if urllib.parse.urlsplit(url).scheme == "http" and not is_this_machine(url):
            where += "; over plain HTTP, so anyone on the way can read the key: prefer https://"
        print(f"  note  the API key is sent ({where})", flush=True)
    try:
        results, notes = smoke(
            url, args.timeout, sys.stdout, given=args.input, api_key=args.api_key
        )
    except NothingListensError as error:
        print(f"smoke: {error}", file=sys.stderr)
        return EXIT_FAILED
    return report(url, results, sys.stdout, sys.stderr, notes)


if __name__ == "__main__":
    sys.exit(main())
