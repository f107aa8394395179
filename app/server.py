"""The production server behind ``python -m app``: granian, configured from the environment.

Every setting is read and validated here, once, before the server starts; a bad value stops the
program with one line naming the variable, its value and what is allowed (exit status 2).

==================  ==================  =====================================================
Variable            Default             Meaning
==================  ==================  =====================================================
HOST                0.0.0.0             address to listen on
PORT                8080                port to listen on (1-65535)
WEB_CONCURRENCY     from the CPU limit  worker processes (see ``default_workers``)
TIMEOUT             30                  seconds one request may take before its worker is
                                        killed and replaced
GRACEFUL_TIMEOUT    10                  seconds in-flight requests get to finish after
                                        SIGTERM (keep it under the orchestrator's 30 s)
MAX_CONTENT_LENGTH  1048576             largest request body in bytes (413 above)
LOG_LEVEL           info                debug, info, warning, error or critical (the
                                        server's own messages, on stderr)
==================  ==================  =====================================================

The server is granian (https://github.com/emmett-framework/granian): HTTP is parsed and
connections are kept alive in Rust, and each worker process runs the Flask app in Python
threads. Each worker runs one prediction at a time (the model need not be thread-safe), in one
of two threads, so that the other can answer ``/healthz`` while a slow prediction runs.

``bench/bench.py --servers flask-dev,app,gunicorn`` measured it against gunicorn's sync workers,
the server this replaced, on 2 CPUs with the access log on for both: about 2.7 times the
requests/s (medians 19,200-19,400 against 6,950-7,100) at a lower p99 latency (4.4-4.9 ms
against 6.6-7.0 ms). The trade-offs, each checked by the tests:

* Requests too malformed for the HTTP parser (a Content-Length that is not a number, a request
  line that is not HTTP) get granian's own ``400`` with an empty body, not a JSON error: granian
  has no hook for them. They never reach the app, never get a 5xx, and the server goes on.
* Each worker accepts its own connections, so a request may wait for a busy worker while
  another is idle; gunicorn's sync workers took whichever was free, one connection each.
* A worker keeps its connections alive across requests (gunicorn's sync workers closed each),
  and reads request headers with a 30 s deadline, so slow clients cannot hold all of them.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from granian.constants import HTTPModes, Interfaces
from granian.log import LogLevels
from granian.server import Server

from app import DEFAULT_MAX_CONTENT_LENGTH, Predictor, create_app

MIN_DEFAULT_WORKERS = 2
"""Lower bound of the CPU-derived default: a worker whose process dies (a crash in the model's
native code, a request over ``TIMEOUT``) leaves another answering while it is replaced."""

MAX_DEFAULT_WORKERS = 8
"""Upper bound of the CPU-derived default, so a container without a CPU limit on a big host does
not fork dozens of copies of the model."""

THREADS_PER_WORKER = 2
"""Python threads per worker: one runs a prediction, the other answers ``/healthz`` meanwhile
(predictions themselves run one at a time per worker)."""

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

SERVER_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "server": {
            "()": "logging.Formatter",
            "fmt": "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s",
            "datefmt": "%Y-%m-%d %H:%M:%S %z",
        }
    },
    "handlers": {
        "stderr": {
            "formatter": "server",
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "_granian": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "granian.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
"""Granian's own messages (workers started, stopped, replaced) go to stderr, as errors do; the
access log has stdout to itself."""


class ConfigError(ValueError):
    """An environment variable has a value the server cannot use."""


@dataclass(frozen=True)
class Settings:
    """The server's validated settings. Build them with ``load_settings``."""

    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 2
    timeout: int = 30
    graceful_timeout: int = 10
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    log_level: str = "info"

    @property
    def bind(self) -> str:
        """The address as ``HOST:PORT`` (IPv6 addresses in brackets), for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the server settings from environment variables.

    Args:
        environ: The environment; ``os.environ`` if not given.

    Returns:
        The settings.

    Raises:
        ConfigError: A variable is set to a value that is not allowed.
    """
    env = os.environ if environ is None else environ

    def integer(name: str, default: int, low: int, high: int) -> int:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise ConfigError(f"{name}={raw!r} is not allowed: use an integer from {low} to {high}")
        return value

    host = env.get("HOST", "").strip() or Settings.host
    port = integer("PORT", Settings.port, 1, 65535)
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError):
        raise ConfigError(
            f"HOST={host!r} is not allowed: use an IP address or a name this machine resolves, "
            "such as 0.0.0.0 (all interfaces) or 127.0.0.1"
        ) from None
    log_level = env.get("LOG_LEVEL", "").strip().lower() or Settings.log_level
    if log_level not in LOG_LEVELS:
        raise ConfigError(
            f"LOG_LEVEL={env['LOG_LEVEL']!r} is not allowed: use one of {', '.join(LOG_LEVELS)}"
        )
    return Settings(
        host=host,
        port=port,
        workers=integer("WEB_CONCURRENCY", default_workers(), 1, 256),
        timeout=integer("TIMEOUT", Settings.timeout, 1, 3600),
        graceful_timeout=integer("GRACEFUL_TIMEOUT", Settings.graceful_timeout, 0, 3600),
        max_content_length=integer("MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH, 1, 2**31 - 1),
        log_level=log_level,
    )


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup, in CPUs, or None when there is none.

    This is what a container may really use: a 0.25-vCPU Fargate task or a Kubernetes pod
    limited to 500m still sees every CPU of its host in ``os.cpu_count()``.

    Args:
        root: Where the cgroup filesystem is mounted.

    Returns:
        ``quota / period`` from cgroup v2's ``cpu.max`` or cgroup v1's
        ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us``; None when unlimited or unreadable.
    """
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]  # v2: "25000 100000"
    except (OSError, ValueError):
        for v1 in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
            try:
                quota = (root / v1 / "cpu.cfs_quota_us").read_text().strip()  # -1: unlimited
                period = (root / v1 / "cpu.cfs_period_us").read_text().strip()
                break
            except OSError:
                continue
        else:
            return None
    try:
        cpus = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None  # "max" (v2) lands here
    return cpus if cpus > 0 else None


def available_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> float:
    """The CPUs this process may use: the cgroup quota, capped by the CPUs it may run on."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no sched_getaffinity
        usable = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cgroup_root)
    return usable if limit is None else min(limit, usable)


def default_workers(cpus: float | None = None) -> int:
    """The default ``WEB_CONCURRENCY``: the CPUs rounded up, clamped to 2..8.

    ``cpus`` is ``available_cpus()``, the container's CPU limit: 0.25, 0.5, 1 or 2 CPUs give 2
    workers, 2.5 or 3 give 3, 4 give 4, 8 or more give 8. Granian's workers do not wait on the
    network (its Rust threads do), so one per CPU keeps the CPUs busy and more only add copies
    of the model: on 2 CPUs, ``bench/bench.py`` measured 3 workers within a few percent of 2's
    requests/s, with a higher p99 latency. At least 2, so one answers while the other is
    replaced; at most 8, as every worker holds its own copy of the model in memory. A large
    model wants fewer: set ``WEB_CONCURRENCY``.

    Args:
        cpus: The CPUs to size for; ``available_cpus()`` if not given.
    """
    if cpus is None:
        cpus = available_cpus()
    return max(MIN_DEFAULT_WORKERS, min(math.ceil(cpus), MAX_DEFAULT_WORKERS))


def granian_options(settings: Settings) -> dict[str, Any]:
    """Granian's server arguments for ``settings`` (``granian.server.Server``'s parameters)."""
    return {
        "address": settings.host,
        "port": settings.port,
        "interface": Interfaces.WSGI,
        "workers": settings.workers,
        "blocking_threads": THREADS_PER_WORKER,
        "http": HTTPModes.http1,  # what load balancers speak to their targets
        "websockets": False,
        # A worker gets SIGTERM, stops accepting, finishes what it has; granian kills it after
        # this many seconds (0 would mean "never" to granian: a millisecond, for "at once").
        "workers_kill_timeout": settings.graceful_timeout or 0.001,
        # A worker that dies (a crash, a request over TIMEOUT) is replaced, not the whole server.
        "respawn_failed_workers": True,
        "log_level": LogLevels(settings.log_level),
        "log_dictconfig": SERVER_LOG_CONFIG,
        "log_access": False,  # AccessLog below writes it, for a fraction of the cost
    }


def serve(
    settings: Settings,
    app_factory: Callable[[], Any],
    extra_options: Mapping[str, Any] | None = None,
) -> None:
    """Run granian until it is stopped.

    Args:
        settings: The server settings.
        app_factory: Builds the WSGI app; each worker calls it once, after the fork.
        extra_options: Granian server arguments to apply over ``granian_options(settings)``
            (the benchmark uses it to compare configurations).
    """
    # Workers are forked, as gunicorn's were, so the app factory may be any callable (a closure
    # holding the predictor) and a model loaded in it lives only in the workers.
    if "fork" in multiprocessing.get_all_start_methods():
        multiprocessing.set_start_method("fork", force=True)

    def load(_target: str) -> Any:  # in each worker, after the fork
        return AccessLog(RequestDeadline(app_factory(), settings.timeout))

    server = Server("app", **{**granian_options(settings), **(extra_options or {})})
    server.serve(target_loader=load)


class RequestDeadline:
    """WSGI middleware: a request still running after ``timeout`` seconds kills its worker.

    What gunicorn's ``--timeout`` did: a model stuck in a loop or a hung call cannot hold a
    worker for ever. The worker logs the request to stderr and kills itself; granian starts a
    new one. Requests queued on that worker's connections fail with it. A worker that dies
    again within 5.5 s of being replaced makes granian stop altogether (exit status 1), and the
    orchestrator restarts the container.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], timeout: float) -> None:
        self.app = app
        self.timeout = timeout
        self.running: dict[int, tuple[float, dict[str, Any]]] = {}
        tick = min(1.0, timeout / 4)
        threading.Thread(target=self._watch, args=(tick,), name="deadline", daemon=True).start()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        me = threading.get_ident()
        self.running[me] = (time.monotonic(), environ)
        try:
            return self.app(environ, start_response)
        finally:
            del self.running[me]

    def _watch(self, tick: float) -> None:
        while True:
            time.sleep(tick)
            now = time.monotonic()
            for started, environ in list(self.running.values()):
                if now - started > self.timeout:
                    print(
                        f"[{os.getpid()}] [CRITICAL] {environ.get('REQUEST_METHOD')} "
                        f"{_path(environ)} has run for more than TIMEOUT={self.timeout:g} s: "
                        "killing this worker; granian starts a new one",
                        file=sys.stderr,
                        flush=True,
                    )
                    os.kill(os.getpid(), signal.SIGKILL)


class AccessLog:
    """WSGI middleware: one line per request on stdout, written as the answer leaves the app.

    ``PEER FORWARDED-FOR "METHOD PATH?QUERY PROTOCOL" STATUS BYTES DURATIONms "USER-AGENT"``:
    the peer (the load balancer, behind one), the client it forwarded for, the request, status,
    response bytes, time in the app, user agent. Each line is one unbuffered ``write`` to file
    descriptor 1, so no line waits in a buffer and none is lost when a worker is killed; granian's
    own access log goes through Python's ``logging`` and cost about a quarter of the requests/s
    in ``bench/bench.py``, this about 5%.

    It also hands granian a body with a Content-Length as one ``bytes`` (``[body]``): granian
    sends a list in one piece, where it would step through an iterator from Rust.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], fd: int = 1) -> None:
        self.app = app
        self.fd = fd

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        answer: list[Any] = ["500", ()]

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[0], answer[1] = status, headers
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, start)
            length = next((v for k, v in answer[1] if k.lower() == "content-length"), None)
            if length is not None and not isinstance(body, list):
                chunks = body
                try:
                    body = [b"".join(chunks)]
                finally:
                    if hasattr(chunks, "close"):
                        chunks.close()
        except BaseException:
            self.log(environ, "500", "-", started)
            raise
        self.log(environ, answer[0][:3], length or "-", started)
        return body

    def log(self, environ: dict[str, Any], status: str, length: str, started: float) -> None:
        ua = environ.get("HTTP_USER_AGENT", "-").replace('"', '\\"')
        line = (
            f"{environ.get('REMOTE_ADDR', '-')} {environ.get('HTTP_X_FORWARDED_FOR', '-')} "
            f'"{environ.get("REQUEST_METHOD")} {_path(environ)} {environ.get("SERVER_PROTOCOL")}" '
            f'{status} {length} {(time.perf_counter() - started) * 1000:.0f}ms "{ua}"\n'
        )
        with contextlib.suppress(OSError):  # a closed stdout must not fail the request
            os.write(self.fd, line.encode("utf-8", "replace"))


_PLAIN = re.compile(r"[!#-~]*")  # printable ASCII without space and ": safe in a log line as is


def _path(environ: Mapping[str, Any]) -> str:
    """The request's path and query, percent-encoded as a client sends them (one log token)."""
    path, query = environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
    if not _PLAIN.fullmatch(path):  # WSGI decoded it: %0A would be a new line in the log
        path = quote(path, safe="/!$&'()*+,;=:@~", encoding="latin-1", errors="replace")
    if query and not _PLAIN.fullmatch(query):
        query = quote(query, safe="/?!$&'()*+,;=:@~%", encoding="latin-1", errors="replace")
    return f"{path}?{query}" if query else path


def one_at_a_time(predictor: Predictor) -> Predictor:
    """``predictor``, called by one thread at a time: a model need not be thread-safe."""
    lock = threading.Lock()

    def predict(msg: Any) -> Any:
        with lock:
            return predictor(msg)

    return predict


def main(predictor: Predictor | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Serve the endpoint until SIGTERM or SIGINT.

    Args:
        predictor: The model's predict function; ``app.model.predict`` if not given.
        environ: The environment to read settings from; ``os.environ`` if not given.

    Returns:
        The exit status: 2 for a bad setting (reported on stderr in one line), else 0 once the
        server has stopped (granian exits with 1 by itself when a worker keeps crashing).
    """
    try:
        settings = load_settings(environ)
    except ConfigError as e:
        print(f"python -m app: {e}", file=sys.stderr)
        return 2
    config = {"MAX_CONTENT_LENGTH": settings.max_content_length, "PREDICTOR": predictor}

    def build() -> Any:  # in each worker: the model (app.model) is imported there
        app = create_app(config)
        app.config["PREDICTOR"] = one_at_a_time(app.config["PREDICTOR"])
        return app

    serve(settings, build)
    return 0
