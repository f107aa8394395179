"""The production server behind ``python -m app``: granian, configured from the environment.

Every setting is read and validated here, once, before the server starts; a bad value stops the
program with one line naming the variable, its value and what is allowed (exit status 2).

====================  ==================  =====================================================
Variable              Default             Meaning
====================  ==================  =====================================================
HOST                  0.0.0.0             address to listen on
PORT                  8080                port to listen on (1-65535); one already in use is
                                          an error, never shared
WEB_CONCURRENCY       from the CPU limit  worker processes, each with its own copy of the
                                          model (see ``default_workers``)
TIMEOUT               30                  seconds one prediction may run (the model's own
                                          time; waiting in the queue does not count)
MAX_QUEUE             128                 requests that may wait for the model in each worker,
                                          and no more than TIMEOUT seconds of work at the
                                          model's recent pace; more get 503 with Retry-After
MAX_BATCH_SIZE        (the model's)       with ``@batch``: the most requests per call to
                                          ``predict`` (1-4096), over the declared value
                                          (ignored, with a warning, for a model without
                                          ``@batch``)
MAX_BATCH_WAIT_MS     (the model's)       with ``@batch``: the most milliseconds a request
                                          waits for others to join its batch (0-10000)
BODY_TIMEOUT          15                  seconds a client has to send a request body (408)
KEEPALIVE_TIMEOUT     75                  seconds an idle connection is kept open, and the
                                          limit for a client to send its request headers:
                                          keep it above the load balancer's idle timeout
                                          (the ALB's is 60 s)
GRACEFUL_TIMEOUT      10                  seconds in-flight requests get to finish after
                                          SIGTERM (keep it under the orchestrator's 30 s)
MAX_CONTENT_LENGTH    1048576             largest request body in bytes (413 above)
MODEL_MODULE          app.model           the model module (dotted name)
MODEL_PATH            (none)              the weights file, checked and passed to
                                          ``load(path)`` before the worker reports ready
MODEL_SHA256          (none)              the file's expected SHA-256; another file leaves
                                          the worker unready
API_KEYS              (none: open)        keys, separated by commas, that ``/predict``
                                          requires (``Authorization: Bearer <key>``)
METRICS_PORT          (none: off)         Prometheus metrics on ``/metrics`` on this port
                                          (never the public PORT)
LOG_FORMAT            text                ``text`` or ``json`` (one JSON object per access
                                          log line, with the request id and model version)
CLOUDWATCH_EMF_*      (none: off)         ``_NAMESPACE`` and ``_SERVICE``: each prediction's
                                          JSON line also carries the model's time in
                                          CloudWatch's embedded metric format (implies json)
OMP_NUM_THREADS...    CPUs / workers      the math libraries' threads per worker, at least
                                          1: ``OMP_NUM_THREADS`` (torch's intra-op threads
                                          follow it), ``MKL_NUM_THREADS``,
                                          ``OPENBLAS_NUM_THREADS``,
                                          ``VECLIB_MAXIMUM_THREADS``,
                                          ``NUMEXPR_NUM_THREADS`` and ``RAYON_NUM_THREADS``
                                          (``TOKENIZERS_PARALLELISM`` is ``false`` at 1);
                                          set before the model is imported, unless you set
                                          them; the server logs what it chose (see
                                          ``thread_defaults``)
LOG_LEVEL             info                debug, info, warning, error or critical (the
                                          server's own messages, on stderr)
CONTAINER_MEMORY_MB   from the cgroup     the container's memory in MiB (the stacks set it
                                          from ``memory``: Fargate hides it from the cgroup)
MAX_WORKER_MEMORY_MB  the container's     MiB one worker may hold (resident), checked every
                      memory              5 s; a worker over it is replaced, with a
                                          warning naming its size and the limit; by default the
                                          container's memory less the main process's; 0: no
                                          limit. A worker over its share (that memory divided
                                          by the workers) is warned about once, not replaced
====================  ==================  =====================================================

The server is granian (https://github.com/emmett-framework/granian) with its native RSGI
interface: HTTP is parsed and connections are kept in Rust; each worker process runs an asyncio
event loop for the HTTP contract (``app.endpoint``) and one thread for the model
(``app.runner``). The loop reads bodies and answers health checks while the model runs.

Each worker accepts its own connections (the kernel spreads them), so a request may wait in one
worker's queue while another is idle: ``MAX_QUEUE`` bounds that wait. Requests too malformed for
the HTTP parser (a Content-Length that is not a number, a request line that is not HTTP) get
granian's own ``400`` with an empty body, not a JSON error: they never reach the app, never get
a 5xx, and the server goes on.
"""

from __future__ import annotations

import errno
import json
import math
import multiprocessing
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server import Server
from granian.server.common import logger as granian_logger

from app import MAX_BATCH_SIZE_LIMIT, MAX_WAIT_MS_LIMIT
from app.accesslog import AccessLog

DEFAULT_MAX_CONTENT_LENGTH = 1024 * 1024
"""Largest request body accepted, in bytes (1 MiB); larger ones get 413."""

MIN_DEFAULT_WORKERS = 2
"""Lower bound of the CPU-derived default: a worker whose process dies (a crash in the model's
native code, a prediction over ``TIMEOUT``) leaves another answering while it is replaced."""

MAX_DEFAULT_WORKERS = 8
"""Upper bound of the CPU-derived default, so a container without a CPU limit on a big host does
not fork dozens of copies of the model."""

CONNECTIONS_PER_WORKER = 8192
"""Connections a worker holds open at once (granian's backpressure). Each is a small Rust task,
not a thread: a high bound lets thousands of slow or idle clients wait without turning away
the next one, as happened at granian's default (backlog / workers = 512)."""

LISTEN_BACKLOG = 4096
"""Connections the kernel queues before a worker accepts them."""

MAIN_PROCESS_MB = 32
"""The main process's own memory (it holds no model), left out of the workers' shares."""

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")


SHA256 = re.compile(r"[0-9a-f]{64}")

EMF_TEXT = re.compile(r"[ -~]{1,255}")

MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

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
    max_queue: int = 128
    body_timeout: int = 15
    keepalive_timeout: int = 75
    graceful_timeout: int = 10
    max_content_length: int = DEFAULT_MAX_CONTENT_LENGTH
    model_module: str = "app.model"
    model_path: str | None = None
    model_sha256: str | None = None
    api_keys: tuple[str, ...] = ()
    metrics_port: int | None = None
    log_format: str = "text"
    emf: tuple[str, str] | None = None
    log_level: str = "info"
    max_batch_size: int | None = None
    max_batch_wait_ms: int | None = None
    max_worker_memory_mb: int | None = None
    worker_memory_share_mb: int | None = None
    container_memory_mb: int | None = None

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
    module = env.get("MODEL_MODULE", "").strip() or Settings.model_module
    if not MODULE_NAME.fullmatch(module):
        raise ConfigError(
            f"MODEL_MODULE={env['MODEL_MODULE']!r} is not allowed: use a dotted module name "
            "such as app.model"
        )
    model_path = env.get("MODEL_PATH", "").strip() or None
    sha = env.get("MODEL_SHA256", "").strip().lower() or None
    if sha is not None and not SHA256.fullmatch(sha):
        raise ConfigError(
            f"MODEL_SHA256={env['MODEL_SHA256']!r} is not allowed: use the file's SHA-256 as 64 "
            "hexadecimal digits (sha256sum FILE)"
        )
    if sha is not None and model_path is None:
        raise ConfigError("MODEL_SHA256 is set but MODEL_PATH is not: set the file to check")
    api_keys: tuple[str, ...] = ()
    if "API_KEYS" in env:
        api_keys = tuple(k.strip() for k in env["API_KEYS"].split(","))
        if not all(api_keys) or any(any(c.isspace() for c in k) for k in api_keys):
            # The value is a secret: never repeat it in a message.
            raise ConfigError(
                "API_KEYS is not allowed: give one or more keys separated by commas, none of "
                "them empty or containing whitespace (the value is not shown: it is a secret)"
            )
    metrics_port = integer("METRICS_PORT", 0, 0, 65535) or None
    if metrics_port is not None and metrics_port == port:
        raise ConfigError(
            f"METRICS_PORT={metrics_port} is not allowed: the metrics need a port of their own, "
            f"not PORT={port} (the public one)"
        )
    emf = None
    namespace = env.get("CLOUDWATCH_EMF_NAMESPACE", "").strip()
    if namespace:
        service = env.get("CLOUDWATCH_EMF_SERVICE", "").strip()
        if not service or not EMF_TEXT.fullmatch(namespace) or not EMF_TEXT.fullmatch(service):
            raise ConfigError(
                "CLOUDWATCH_EMF_NAMESPACE and CLOUDWATCH_EMF_SERVICE must both be set, to "
                "1-255 printable ASCII characters each (CloudWatch's namespace and dimension)"
            )
        emf = (namespace, service)
    log_format = env.get("LOG_FORMAT", "").strip().lower() or Settings.log_format
    if log_format not in LOG_FORMATS:
        raise ConfigError(
            f"LOG_FORMAT={env['LOG_FORMAT']!r} is not allowed: use one of {', '.join(LOG_FORMATS)}"
        )
    workers = integer("WEB_CONCURRENCY", default_workers(), 1, 256)
    container_memory = integer("CONTAINER_MEMORY_MB", 0, 0, 2**31 - 1) or cgroup_memory_mb()
    worker_memory = integer("MAX_WORKER_MEMORY_MB", -1, 0, 2**31 - 1)
    # Each worker's share of the container's memory: past it, a warning. Past the limit (by
    # default all of the container's memory less the main process's), a replacement. Not the
    # share as the limit: resident memory counts the pages the workers share with the main
    # process (the model module is imported before the fork), so workers that fit together can
    # each hold more than their share, and would be replaced every few seconds for nothing.
    share = max(1, (container_memory - MAIN_PROCESS_MB) // workers) if container_memory else 0
    if worker_memory < 0:
        worker_memory = max(1, container_memory - MAIN_PROCESS_MB) if container_memory else 0
    batch_size = integer("MAX_BATCH_SIZE", 0, 1, MAX_BATCH_SIZE_LIMIT) or None
    batch_wait = integer("MAX_BATCH_WAIT_MS", -1, 0, MAX_WAIT_MS_LIMIT)
    return Settings(
        host=host,
        port=port,
        workers=workers,
        timeout=integer("TIMEOUT", Settings.timeout, 1, 3600),
        max_queue=integer("MAX_QUEUE", Settings.max_queue, 0, 100_000),
        body_timeout=integer("BODY_TIMEOUT", Settings.body_timeout, 1, 3600),
        keepalive_timeout=integer("KEEPALIVE_TIMEOUT", Settings.keepalive_timeout, 1, 3600),
        graceful_timeout=integer("GRACEFUL_TIMEOUT", Settings.graceful_timeout, 0, 3600),
        max_content_length=integer("MAX_CONTENT_LENGTH", DEFAULT_MAX_CONTENT_LENGTH, 1, 2**31 - 1),
        model_module=module,
        model_path=model_path,
        model_sha256=sha,
        api_keys=api_keys,
        metrics_port=metrics_port,
        log_format="json" if emf else log_format,
        emf=emf,
        log_level=log_level,
        max_batch_size=batch_size,
        max_batch_wait_ms=None if batch_wait < 0 else batch_wait,
        max_worker_memory_mb=worker_memory or None,
        worker_memory_share_mb=share or None,
        container_memory_mb=container_memory,
    )


def cgroup_memory_mb(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The memory limit of this process's cgroup in MiB, or None when there is none.

    Docker and Kubernetes set it on the container; Fargate sets the task's limit above the
    container's cgroup, which then reads as unlimited (the stacks pass CONTAINER_MEMORY_MB).
    """
    for path in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # v1 says "unlimited" with a huge number
            return int(text) // (1024 * 1024)
        return None
    return None


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


THREAD_VARIABLES = (
    "OMP_NUM_THREADS",  # OpenMP: torch's intra-op pool, scikit-learn, ONNX Runtime, ...
    "MKL_NUM_THREADS",  # Intel MKL (NumPy/torch builds that link it)
    "OPENBLAS_NUM_THREADS",  # OpenBLAS (NumPy's and SciPy's wheels)
    "VECLIB_MAXIMUM_THREADS",  # Apple Accelerate
    "NUMEXPR_NUM_THREADS",  # numexpr (pandas)
    "RAYON_NUM_THREADS",  # Rust's rayon: Hugging Face tokenizers, polars
)
"""Thread-pool sizes the math libraries read from the environment as they are imported."""


def thread_defaults(workers: int, cpus: float | None = None) -> dict[str, str]:
    """The thread-pool variables for ``workers`` workers sharing ``cpus``: CPUs / workers each.

    Every worker runs its model in one thread; a library that starts a pool of its own per
    worker (torch starts one thread per core by default) puts more busy threads than CPUs on
    the container, and they slow each other down (docs/your-model.md, "Sizing memory and workers").

    Args:
        workers: The server's workers.
        cpus: The CPUs the container may use; ``available_cpus()`` if not given.

    Returns:
        Each of ``THREAD_VARIABLES``, and ``TOKENIZERS_PARALLELISM`` (``false`` with one thread
        per worker), as they would be set; at least 1 thread each.
    """
    if cpus is None:
        cpus = available_cpus()
    threads = max(1, math.floor(cpus / workers))
    values = dict.fromkeys(THREAD_VARIABLES, str(threads))
    values["TOKENIZERS_PARALLELISM"] = "true" if threads > 1 else "false"
    return values


def set_thread_defaults(workers: int, environ: Any = None) -> str:
    """Set ``thread_defaults(workers)`` in ``environ`` (``os.environ``), except the variables
    the user has set. Returns the log line that says what was chosen (printed once the model
    module has imported, so that a model that cannot be imported is the only line)."""
    env = os.environ if environ is None else environ
    cpus = available_cpus()
    chosen = {k: v for k, v in thread_defaults(workers, cpus).items() if k not in env}
    kept = [f"{k}={env[k]}" for k in (*THREAD_VARIABLES, "TOKENIZERS_PARALLELISM") if k in env]
    env.update(chosen)
    threads = chosen.get("OMP_NUM_THREADS", env.get("OMP_NUM_THREADS"))
    return (
        f"python -m app: {workers} workers on {cpus:g} CPUs: the math libraries' threads per "
        f"worker: {threads} (OMP_NUM_THREADS, MKL, OpenBLAS, torch, tokenizers...)"
        + (f"; kept as you set them: {', '.join(kept)}" if kept else "")
    )


def granian_options(settings: Settings) -> dict[str, Any]:
    """Granian's server arguments for ``settings`` (``granian.server.Server``'s parameters)."""
    return {
        "address": settings.host,
        "port": settings.port,
        "interface": Interfaces.RSGI,
        "workers": settings.workers,
        "http": HTTPModes.http1,  # what load balancers speak to their targets
        "http1_settings": HTTP1Settings(header_read_timeout=settings.keepalive_timeout * 1000),
        "websockets": False,
        "backlog": LISTEN_BACKLOG,
        "backpressure": CONNECTIONS_PER_WORKER,
        # A worker gets SIGTERM, stops accepting, finishes what it has; granian kills it after
        # this many seconds (0 would mean "never" to granian: a millisecond, for "at once").
        "workers_kill_timeout": settings.graceful_timeout or 0.001,
        # A worker that dies (a crash, a prediction over TIMEOUT) is replaced, not the server.
        "respawn_failed_workers": True,
        "log_level": LogLevels(settings.log_level),
        "log_dictconfig": SERVER_LOG_CONFIG,
        "log_access": False,  # AccessLog below writes it, for a fraction of the cost
        # Granian samples the workers' memory when this is set: at the lower of the two
        # thresholds Supervisor acts on (a warning at the share, a replacement at the limit).
        "workers_max_rss": min(
            (mb for mb in (settings.worker_memory_share_mb, settings.max_worker_memory_mb) if mb),
            default=None,
        ),
        "rss_sample_interval": MEMORY_CHECK_SECONDS,
    }


CRASH_BACKOFF_SECONDS = (0, 0.5, 1, 2, 4, 8)
"""How long a worker that died young (within ``SHORT_LIFE_SECONDS`` of its start) waits before
its replacement starts, by how many times in a row it did: a model that crashes on some input
is replaced at once, one that crashes as it loads is retried ever more slowly (never stopped:
the orchestrator sees the replica unready and decides)."""

SHORT_LIFE_SECONDS = 10.0

MEMORY_CHECK_SECONDS = 5
"""How often each worker's resident memory is compared with its limit."""


class Supervisor(Server):  # type: ignore[misc, valid-type]
    """Granian's server, minus the crash-loop exit, with a memory limit that says what it does.

    Granian 2.8.7 stops the whole server when a worker dies within 5.5 s of being respawned
    (``_serve_loop``: "Worker crash loop detected, exiting"): a model that crashes on some
    input (a segfault, an out-of-memory kill, ``os._exit``, a ``TIMEOUT`` overrun) let any
    client stop the replica by sending that input twice. Here a dead worker is always replaced;
    one that keeps dying young waits longer before each new start (``CRASH_BACKOFF_SECONDS``),
    so a model that cannot start costs a log line every few seconds, not a CPU.
    """

    def __init__(
        self,
        *args: Any,
        memory_limit_mb: int | None = None,
        memory_share_mb: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._young_deaths: dict[int, int] = {}
        self.memory_limit_mb = memory_limit_mb
        self.memory_share_mb = memory_share_mb
        self._warned: set[int] = set()  # pids already told they hold more than their share

    def _respawn_workers(self, workers, spawn_target, target_loader, delay: float = 0):  # type: ignore[no-untyped-def]
        if not delay:  # granian's own call for workers that died (the others pass a delay)
            now = time.monotonic()
            wait = 0.0
            for idx in workers:
                young = now - self.wrks[idx].birth < SHORT_LIFE_SECONDS
                deaths = self._young_deaths.get(idx, 0) + 1 if young else 0
                self._young_deaths[idx] = deaths
                wait = max(wait, CRASH_BACKOFF_SECONDS[min(deaths, len(CRASH_BACKOFF_SECONDS) - 1)])
            if wait:
                granian_logger.warning(
                    f"worker-{workers[0] + 1} died again within {SHORT_LIFE_SECONDS:g} s of its "
                    f"start: its replacement starts in {wait:g} s"
                )
                # SIGTERM (or another worker's death) ends the wait early.
                self.main_loop_interrupt.wait(wait)
                if self.interrupt_signal:
                    return
        super()._respawn_workers(workers, spawn_target, target_loader, delay)
        # Granian remembers when each worker was respawned, to exit if it dies again within
        # 5.5 s: forget it, so a second crash is replaced like the first.
        self.respawned_wrks.clear()

    def _handle_rss_signal(self, spawn_target, target_loader):  # type: ignore[no-untyped-def]
        # Granian's own, with a warning that says how much and why instead of an info line.
        workers = {wrk._id(): wrk for wrk in self.wrks}
        try:
            rss = self._rss_collector.memory(list(workers))
        except Exception:
            granian_logger.warning("cannot read the workers' memory use; not checked this time")
            return
        limit, share = self.memory_limit_mb, self.memory_share_mb
        over = []
        for pid, used in rss.items():
            if pid not in workers:
                continue
            idx, mib = workers[pid].idx, used / 1024 / 1024
            if limit and mib >= limit:
                granian_logger.warning(
                    f"worker-{idx + 1} (pid {pid}) holds {mib:.0f} MiB, over its limit of "
                    f"{limit} MiB (MAX_WORKER_MEMORY_MB): replacing it. If the model needs "
                    "that much, give the stack more memory or fewer workers"
                )
                over.append(idx)
            elif share and mib >= share and pid not in self._warned:
                self._warned.add(pid)
                granian_logger.warning(
                    f"worker-{idx + 1} (pid {pid}) holds {mib:.0f} MiB, more than its share of "
                    f"the container's memory ({share} MiB: CONTAINER_MEMORY_MB less the main "
                    "process's, divided by the workers). Resident memory counts pages the "
                    "workers share, so they may still fit; if the container runs out of "
                    "memory, give the stack more memory or fewer workers"
                )
        if over:
            self._respawn_workers(over, spawn_target, target_loader, delay=self.respawn_interval)
            self._metrics.incr_respawn_rss(len(over))


def check_port_free(host: str, port: int, name: str = "PORT") -> None:
    """Raise ``ConfigError`` if something already listens on ``host:port``.

    Granian binds with ``SO_REUSEPORT``, so a second server on a port in use would start without
    a word and take part of the first one's connections. A plain bind says whether it is free.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"{name}={port}: {host}:{port} is already in use by another process; stop "
                    f"it or choose another {name}"
                ) from None
            raise ConfigError(f"HOST={host!r} {name}={port}: cannot listen there: {e}") from None


def serve(
    settings: Settings,
    app_factory: Callable[[], Any],
    extra_options: Mapping[str, Any] | None = None,
) -> None:
    """Run granian until it is stopped.

    Args:
        settings: The server settings.
        app_factory: Builds the RSGI app; each worker calls it once, after the fork.
        extra_options: Granian server arguments to apply over ``granian_options(settings)``
            (the benchmark uses it to compare configurations).
    """
    # Workers are forked, so the app factory may be any callable and the model it imports
    # lives only in the workers.
    if "fork" in multiprocessing.get_all_start_methods():
        multiprocessing.set_start_method("fork", force=True)
    server = Supervisor(
        "app",
        memory_limit_mb=settings.max_worker_memory_mb,
        memory_share_mb=settings.worker_memory_share_mb,
        **{**granian_options(settings), **(extra_options or {})},
    )
    server.serve(target_loader=lambda _target: app_factory())


def main(environ: Mapping[str, str] | None = None) -> int:
    """Serve the endpoint until SIGTERM or SIGINT.

    Args:
        environ: The environment to read settings from; ``os.environ`` if not given.

    Returns:
        The exit status: 2 for a bad setting or a port in use, 3 for a model module that cannot
        be imported or breaks the contract (each reported on stderr, once), else 0 once the
        server has stopped.
    """
    try:
        settings = load_settings(environ)
        check_port_free(settings.host, settings.port)
    except ConfigError as e:
        print(f"python -m app: {e}", file=sys.stderr)
        return 2
    # Before anything imports the model: the math libraries read these as they load.
    threads_line = set_thread_defaults(settings.workers)
    # The runtime's own modules (pydantic with them) and the user's model module are imported
    # once, here, before granian forks its workers: each worker starts with them in memory,
    # shared copy-on-write, instead of importing them again at the same time on the same CPUs;
    # and a model module that cannot be imported stops the server here, with one message,
    # before it listens. The model's load() still runs in each worker, after the fork: that is
    # where weights and the math libraries' threads belong.
    import app.endpoint
    import app.openapi
    import app.runner  # noqa: F401

    try:
        spec = import_model(settings.model_module)
    except ConfigError as e:
        print(f"python -m app: {e}", file=sys.stderr, flush=True)
        return 3
    print(threads_line, file=sys.stderr, flush=True)

    ready_workers = _shared_slots(settings.workers)
    metrics_folder = None
    if settings.metrics_port is not None:
        try:
            check_port_free(settings.host, settings.metrics_port, "METRICS_PORT")
        except ConfigError as e:
            print(f"python -m app: {e}", file=sys.stderr)
            return 2
        from app.metrics import start_metrics_process

        metrics_folder = tempfile.mkdtemp(prefix="app-metrics-")
        start_metrics_process(settings.host, settings.metrics_port, metrics_folder)
    try:
        serve(settings, lambda: build_endpoint(settings, ready_workers, metrics_folder, spec))
    finally:
        if metrics_folder is not None:
            shutil.rmtree(metrics_folder, ignore_errors=True)
    return 0


def _shared_slots(workers: int) -> Any:
    """One slot per worker for the pid of a worker whose model has loaded, shared by the forked
    workers; or None where the OS offers no shared semaphore (then each worker reports its own
    readiness)."""
    try:
        return multiprocessing.Array("i", workers)
    except OSError as e:  # no /dev/shm, say
        print(f"python -m app: workers report readiness one by one ({e})", file=sys.stderr)
        return None


PACKAGES = {
    "sklearn": "scikit-learn",
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "yaml": "PyYAML",
    "bs4": "beautifulsoup4",
    "sentence_transformers": "sentence-transformers",
}
"""Import names whose package on the index has another name."""


def import_model(module: str) -> Any:
    """Import and inspect the model module; return its ``ModelSpec``.

    Raises:
        ConfigError: It cannot be imported or breaks the contract. The message names the file
            and line of a syntax error, the package to add to ``app/requirements.txt`` for a
            missing import, or (after the traceback, printed here) the exception raised.
    """
    import traceback

    from app.contract import ModelError, load_spec

    try:
        return load_spec(module)
    except ModelError as e:
        raise ConfigError(str(e)) from None
    except SyntaxError as e:  # IndentationError and TabError too
        where = _relative(e.filename or module)
        raise ConfigError(
            f"{where}, line {e.lineno}: {type(e).__name__}: {e.msg} (the model module "
            f"{module} cannot be imported)"
        ) from None
    except ModuleNotFoundError as e:
        missing = (e.name or "").partition(".")[0] or str(e)
        package = PACKAGES.get(missing, missing)
        raise ConfigError(
            f"{_model_line(e, module)}: No module named {missing!r}: add {package} to "
            "app/requirements.txt (pip install -r app/requirements.txt, and rebuild the image)"
        ) from None
    except BaseException as e:
        traceback.print_exc()
        first = str(e).strip().splitlines()
        raise ConfigError(
            f"{_model_line(e, module)}: the model module {module} failed to import: "
            f"{type(e).__name__}{': ' + first[0] if first else ''} (traceback above)"
        ) from None


def _model_line(error: BaseException, module: str) -> str:
    """``path, line N`` of the deepest frame in the model's own file (else the module's name)."""
    origin = sys.modules.get(module)
    frames = traceback_frames(error)
    for filename, lineno in reversed(frames):
        if module.replace(".", "/") + ".py" in filename.replace("\\", "/") or (
            origin is not None and getattr(origin, "__file__", None) == filename
        ):
            return f"{_relative(filename)}, line {lineno}"
    return module


def traceback_frames(error: BaseException) -> list[tuple[str, int]]:
    """(file, line) of each frame of ``error``'s traceback, outermost first."""
    import traceback

    return [(f.filename, f.lineno or 0) for f in traceback.extract_tb(error.__traceback__)]


def _relative(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return path


def build_endpoint(
    settings: Settings,
    ready_workers: Any = None,
    metrics_folder: str | None = None,
    spec: Any = None,
) -> Any:
    """The RSGI app of one worker: the model module inspected (by ``main``, before the fork,
    or here), not yet loaded."""
    from app.endpoint import Endpoint
    from app.openapi import document
    from app.runner import Runner

    if spec is None:
        spec = import_model(settings.model_module)
    openapi = json.dumps(document(spec), separators=(",", ":")).encode()
    runner = Runner(
        spec,
        settings.timeout,
        settings.max_queue,
        model_path=settings.model_path,
        model_sha256=settings.model_sha256,
        ready_workers=ready_workers,
        workers=settings.workers,
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_batch_wait_ms,
    )
    if runner.max_batch_size:
        print(
            f"[{os.getpid()}] [INFO] {spec.name}.predict takes batches of up to "
            f"{runner.max_batch_size}, waiting up to {runner.max_wait * 1000:g} ms for them to "
            "fill",
            file=sys.stderr,
            flush=True,
        )
    elif settings.max_batch_size is not None or settings.max_batch_wait_ms is not None:
        print(
            f"[{os.getpid()}] [WARNING] MAX_BATCH_SIZE and MAX_BATCH_WAIT_MS are ignored: "
            f"{spec.name}.predict takes one input (declare @batch to take lists)",
            file=sys.stderr,
            flush=True,
        )
    metrics = None
    if metrics_folder is not None:
        from app.metrics import WorkerMetrics

        metrics = WorkerMetrics(metrics_folder, spec.version, spec.name)
        runner.observe = metrics.model.observe
        runner.observe_batch = metrics.batch.observe
    endpoint = Endpoint(
        spec,
        runner,
        openapi,
        settings.max_content_length,
        settings.body_timeout,
        getattr(
            AccessLog(spec.version, emf=settings.emf, api_keys=settings.api_keys),
            settings.log_format,
        ),
        api_keys=settings.api_keys,
        metrics=metrics,
    )
    if metrics is not None:
        metrics.sample = lambda: (
            endpoint.in_flight,
            max(0, runner.pending - 1),
            runner.load_seconds,
        )
    return endpoint
