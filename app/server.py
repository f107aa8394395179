"""The production server behind ``python -m app``: gunicorn, configured from the environment.

Every setting is read and validated here, once, before gunicorn starts; a bad value stops the
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
LOG_LEVEL           info                debug, info, warning, error or critical
==================  ==================  =====================================================

The workers are gunicorn's ``sync`` workers: one request at a time per process, a new
connection per request. ``bench/bench.py`` compares them with ``gthread`` (threads and
keep-alive): on 2 CPUs gthread's median requests/s was within about 15% of sync's, but its p99
latency was 3 to 5 times higher and its throughput swung widely from round to round, because
each keep-alive connection stays with the worker that accepted it, busy or not (gunicorn issues
#2191 and #3433). Sync workers spread the load evenly. They read a request without a deadline, so
a few slow clients can hold them all: they belong behind a proxy, not straight on the internet.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gunicorn.util
from gunicorn.app.base import BaseApplication

from app import DEFAULT_MAX_CONTENT_LENGTH, Predictor, create_app

MIN_DEFAULT_WORKERS = 2
"""Lower bound of the CPU-derived default: a sync worker busy with a prediction cannot answer the
health check, so a second one does."""

MAX_DEFAULT_WORKERS = 8
"""Upper bound of the CPU-derived default, so a container without a CPU limit on a big host does
not fork dozens of copies of the model."""

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

ACCESS_LOG_FORMAT = '%(h)s %({x-forwarded-for}i)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
"""Peer (the load balancer, behind one), the client it forwarded for, request line, status,
response bytes, duration, user agent."""


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
        """The address in gunicorn's ``HOST:PORT`` form (IPv6 addresses in brackets)."""
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
    """The default ``WEB_CONCURRENCY``: ``2 * cpus + 1`` rounded down, clamped to 2..8.

    ``cpus`` is ``available_cpus()``, the container's CPU limit: 0.25 or 0.5 CPU gives 2 workers,
    1 CPU 3, 2 CPUs 5, 4 or more CPUs 8. ``2 * cpus + 1`` is gunicorn's rule of thumb (a worker
    waiting on the network leaves its CPU to another). At least 2, so one worker answers the load
    balancer's ``/healthz`` while another runs a slow prediction; at most 8, as every worker holds
    its own copy of the model in memory. A large model wants fewer: set ``WEB_CONCURRENCY``.

    Args:
        cpus: The CPUs to size for; ``available_cpus()`` if not given.
    """
    if cpus is None:
        cpus = available_cpus()
    return max(MIN_DEFAULT_WORKERS, min(int(2 * cpus + 1), MAX_DEFAULT_WORKERS))


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """Gunicorn's settings for ``settings``, by gunicorn's setting names."""
    return {
        "bind": [settings.bind],
        "workers": settings.workers,
        "worker_class": "sync",
        "timeout": settings.timeout,
        "graceful_timeout": settings.graceful_timeout,
        "accesslog": "-",  # stdout
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",  # stderr
        "loglevel": settings.log_level,
        # The root filesystem may be read-only: the heartbeat file goes to a tmpfs
        # (/dev/shm where there is one, so a slow disk never blocks a worker; else /tmp), and
        # gunicorn's control socket (which it would put under $HOME) is not created at all.
        "worker_tmp_dir": _worker_tmp_dir(),
        "control_socket_disable": True,
        "proc_name": "echo-service",
    }


def _worker_tmp_dir() -> str:
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()


def _json_protocol_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Gunicorn's answer to a request it cannot parse, as JSON instead of an HTML page."""
    body = json.dumps({"error": f"{reason}: {mesg}" if mesg else reason, "success": False})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn.util.write_nonblock(sock, (head + body).encode("latin-1", "replace"))


def serve(
    settings: Settings,
    app_factory: Callable[[], Any],
    extra_options: Mapping[str, Any] | None = None,
) -> None:
    """Run gunicorn until it is stopped.

    Args:
        settings: The server settings.
        app_factory: Builds the WSGI app; each worker calls it once, after the fork.
        extra_options: Gunicorn settings to apply over ``gunicorn_options(settings)`` (the
            benchmark uses it to compare worker classes).
    """
    # Gunicorn answers requests it cannot parse (a bad request line, a Content-Length that is
    # not a number, oversized headers) by itself, with an HTML page; the contract is JSON.
    gunicorn.util.write_error = _json_protocol_error

    class Application(BaseApplication):
        def load_config(self) -> None:
            options = {**gunicorn_options(settings), **(extra_options or {})}
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app_factory()  # in each worker, after the fork

    Application(prog="python -m app").run()


def main(predictor: Predictor | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Serve the endpoint until SIGTERM or SIGINT.

    Args:
        predictor: The model's predict function; ``app.model.predict`` if not given.
        environ: The environment to read settings from; ``os.environ`` if not given.

    Returns:
        The exit status: 2 for a bad setting (reported on stderr in one line); gunicorn exits
        by itself otherwise.
    """
    try:
        settings = load_settings(environ)
    except ConfigError as e:
        print(f"python -m app: {e}", file=sys.stderr)
        return 2
    config = {"MAX_CONTENT_LENGTH": settings.max_content_length, "PREDICTOR": predictor}
    serve(settings, lambda: create_app(config))
    return 0
