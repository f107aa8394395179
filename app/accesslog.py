"""The access log: one line per answer on stdout, as text or as JSON.

Written by the worker that answered, as the answer leaves: one unbuffered ``write`` per line, so
no line waits in a buffer and none is lost when a worker is killed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from typing import Any
from urllib.parse import quote, unquote_plus

REQUEST_ID_HEADERS = ("x-amzn-trace-id", "traceparent", "x-cloud-trace-context", "x-request-id")
"""Where a load balancer puts the request's id: the ALB, W3C trace context (GKE's Gateway and
Cloud Run), Google's own header, and the common convention; the first one present is logged."""


class AccessLog:
    """One line per answer on stdout, written as the answer leaves.

    ``PEER "FORWARDED-FOR" "METHOD PATH?QUERY HTTP/VERSION" STATUS BYTES DURATIONms
    "USER-AGENT" VERSION``: the peer (the load balancer, behind one), the client it forwarded
    for, the request, status, response bytes, time in the app, user agent, the model's
    version. What a client controls is escaped (the path and query percent-encoded, the
    headers quoted, with backslash escapes), so no client can forge a line or a field; an API
    key in the query string is written as ``REDACTED``. Each
    line is one unbuffered ``write``
    to file descriptor 1: no line waits in a buffer, none is lost when a worker is killed.
    """

    def __init__(
        self,
        version: str,
        fd: int = 1,
        emf: tuple[str, str] | None = None,
        api_keys: tuple[str, ...] = (),
    ) -> None:
        self.fd = fd
        # A key sent in the query string (as ?api_key=..., or as any value) is never written.
        self.key_digests = frozenset(hashlib.sha256(k.encode()).digest() for k in api_keys)
        self.emf = emf  # (namespace, Service dimension) for CloudWatch's embedded metric format
        self.raw_version = version
        self.version = escape(version)

    def __call__(
        self, scope: Any, status: int, length: int, seconds: float, model: float | None = None
    ) -> None:
        self.text(scope, status, length, seconds, model)

    def json(
        self, scope: Any, status: int, length: int, seconds: float, model: float | None = None
    ) -> None:
        """The same as one JSON object (``LOG_FORMAT=json``), with the request's id, for
        CloudWatch Logs Insights and Cloud Logging to query."""
        headers = scope.headers
        request_id = next((v for h in REQUEST_ID_HEADERS if (v := headers.get(h))), None)
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "severity": "ERROR" if status >= 500 else "INFO",
            "message": f"{scope.method} {scope.path} {status}",
            "client": scope.client.rpartition(":")[0] or scope.client,
            "forwarded_for": headers.get("x-forwarded-for"),
            "method": scope.method,
            "path": scope.path,
            "query": self._query(scope.query_string),
            "status": status,
            "bytes": length,
            "duration_ms": round(seconds * 1000, 3),
            "user_agent": headers.get("user-agent"),
            "version": self.raw_version,
            "request_id": request_id,
        }
        if model is not None:
            record["model_ms"] = round(model * 1000, 3)
            if self.emf is not None:
                # CloudWatch embedded metric format: CloudWatch Logs turns this line into one
                # ModelInferenceTime data point, with no agent and no API call.
                namespace, service = self.emf
                record["_aws"] = {
                    "Timestamp": int(time.time() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": namespace,
                            "Dimensions": [["Service"]],
                            "Metrics": [{"Name": "ModelInferenceTime", "Unit": "Milliseconds"}],
                        }
                    ],
                }
                record["Service"] = service
                record["ModelInferenceTime"] = record["model_ms"]
        line = json.dumps(record, ensure_ascii=True) + "\n"  # one line, whatever the client sent
        try:  # noqa: SIM105 - see text
            os.write(self.fd, line.encode())
        except OSError:
            pass

    def text(
        self, scope: Any, status: int, length: int, seconds: float, model: float | None = None
    ) -> None:
        """The line described above."""
        headers = scope.headers
        peer = scope.client.rpartition(":")[0] or scope.client
        forwarded = headers.get("x-forwarded-for")
        ua = headers.get("user-agent")
        version = _HTTP_VERSIONS.get(scope.http_version, scope.http_version)
        line = (
            f'{peer} "{escape(forwarded) if forwarded else "-"}" '
            f'"{scope.method} {_target(scope.path, self._query(scope.query_string))} '
            f'HTTP/{version}" '
            f"{status} {length} {seconds * 1000:.0f}ms "
            f'"{escape(ua) if ua else "-"}" {self.version}\n'
        )
        try:  # noqa: SIM105 - per request: a bare try costs less than contextlib.suppress
            os.write(self.fd, line.encode("utf-8", "replace"))
        except OSError:  # a closed stdout must not fail the request
            pass

    def _query(self, query: str) -> str:
        """The query string with the values of credential-like parameters and of any API key
        replaced by ``REDACTED``."""
        if not query or not (self.key_digests or _SECRET_PARAM.search(query)):
            return query
        parts = []
        for part in query.split("&"):
            name, eq, value = part.partition("=")
            plain = unquote_plus(name).strip().lower().replace("-", "_")
            if eq and (
                plain in SECRET_PARAMS
                or (
                    self.key_digests
                    and hashlib.sha256(unquote_plus(value).strip().encode()).digest()
                    in self.key_digests
                )
            ):
                part = f"{name}=REDACTED"
            parts.append(part)
        return "&".join(parts)


SECRET_PARAMS = frozenset(
    (
        "api_key",
        "apikey",
        "key",
        "x_api_key",
        "token",
        "access_token",
        "auth",
        "authorization",
        "bearer",
        "secret",
        "password",
    )
)
"""Query parameters whose values the access log never writes (names compared in lower case,
with ``-`` as ``_``)."""

_SECRET_PARAM = re.compile(
    r"(?:^|&)(?:[^=&]*(?:key|token|auth|bearer|secret|password)[^=&]*)=", re.IGNORECASE
)

_HTTP_VERSIONS = {"1": "1.0"}  # granian's scope says "1" for HTTP/1.0

_PLAIN = re.compile(r"[!#-\[\]-~]*")  # printable ASCII without space, " and \: safe as it is


def escape(text: str) -> str:
    """``text`` with backslash escapes for quotes, backslashes and anything not printable ASCII."""
    if _PLAIN.fullmatch(text.replace(" ", "")):
        return text
    return "".join(_escape_char(c) for c in text)


def _escape_char(c: str) -> str:
    if c in '"\\':
        return "\\" + c
    if " " <= c <= "~":
        return c
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _target(path: str, query: str) -> str:
    """The request's path and query, percent-encoded as a client sends them (one log token)."""
    if not _PLAIN.fullmatch(path):  # granian decoded it: %0A would be a new line in the log
        path = quote(path, safe="/!$&'()*+,;=:@~", errors="surrogateescape")
    if query and not _PLAIN.fullmatch(query):
        query = quote(query, safe="/?!$&'()*+,;=:@~%", errors="surrogateescape")
    return f"{path}?{query}" if query else path
