"""Issue 12: the model's weights, the server's settings, `env`, the start-up budget, and the
container's environment built from them (`container_env`)."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from app import MAX_BATCH_SIZE_LIMIT, MAX_WAIT_MS_LIMIT
from infra.settings.core import ModelSettings, ServerSettings, Settings, _check, _Problems, _Reader

# --- Issue 12: the model's weights, the server's settings, the start-up budget -----------------
MODEL_SCHEMES = {"aws": "s3", "gcp": "gs", "local": ""}
# Fargate task ephemeral storage: 20 GiB when not set, else 21 to 200 GiB. Source: ECS API
# reference, EphemeralStorage.sizeInGiB (and pulumi_aws TaskDefinitionEphemeralStorageArgs).
FARGATE_DEFAULT_EPHEMERAL_GIB = 20
FARGATE_MAX_EPHEMERAL_GIB = 200
# GKE Autopilot: a Pod's ephemeral-storage requests, summed over its containers, must be between
# 10 MiB and 10 GiB; larger requests are scaled down (and the Pod evicted once it writes more).
# Source: GKE docs, "Resource requests in Autopilot", minimum and maximum requests (as quoted in
# GoogleCloudPlatform/gcs-fuse-csi-driver#21 and #57).
AUTOPILOT_MAX_EPHEMERAL_GIB = 10
# Ephemeral storage the app container needs besides the model: /tmp (64 MiB), its logs and the
# image's writable layer. 1 GiB is what Autopilot gives a container that asks for nothing.
EPHEMERAL_HEADROOM_GIB = 1
# GKE Standard: emptyDir lives on the node's boot disk (`nodeDiskSizeGb`), and a Pod is scheduled
# only where its ephemeral-storage request fits the node's allocatable ephemeral storage: the
# boot disk less the kubelet's eviction threshold (10% of it) and GKE's system reservation
# (the least of 50% of it, 6 GiB + 35% of it, and 100 GiB). Source: GKE docs, "About GKE node
# sizing", Local ephemeral storage reservation (nodes without local SSDs). The default 40 GB
# disk (37.3 GiB) leaves about 14.9 GiB; a request above it leaves the Pod Pending. The same
# page's example node (100 GB disk) shows 43.8 GiB allocatable where the formula gives 45.2, so
# the cap keeps 5% below the formula.
STANDARD_ALLOCATABLE_MARGIN = 0.95
STANDARD_EVICTION_SHARE = 0.10
STANDARD_SYSTEM_SHARE_MAX = 0.50
STANDARD_SYSTEM_BASE_GIB = 6
STANDARD_SYSTEM_SHARE = 0.35
STANDARD_SYSTEM_MAX_GIB = 100


def standard_allocatable_gib(node_disk_gb: int) -> float:
    """A Standard node's allocatable ephemeral storage in GiB, by GKE's formula (above)."""
    disk = node_disk_gb * 10**9 / 2**30
    system = min(
        STANDARD_SYSTEM_SHARE_MAX * disk,
        STANDARD_SYSTEM_BASE_GIB + STANDARD_SYSTEM_SHARE * disk,
        STANDARD_SYSTEM_MAX_GIB,
    )
    return disk - STANDARD_EVICTION_SHARE * disk - system


def standard_model_storage_max(node_disk_gb: int) -> int:
    """The largest modelStorageGiB whose Pod request (it plus the headroom) fits one node."""
    usable = standard_allocatable_gib(node_disk_gb) * STANDARD_ALLOCATABLE_MARGIN
    return math.floor(usable) - EPHEMERAL_HEADROOM_GIB


def standard_disk_for(storage_gib: int) -> int:
    """The smallest nodeDiskSizeGb whose nodes hold a Pod with `storage_gib` for the model."""
    disk = 10
    while standard_model_storage_max(disk) < storage_gib:
        disk += 1
    return disk


# The app's own bounds (app/server.py): WEB_CONCURRENCY 1-256, TIMEOUT 1-3600 s, MAX_QUEUE
# 0-100000. 0 (workers, timeoutSeconds) and -1 (maxQueue) leave the app's own default.
MAX_WORKERS = 256
# The app's own memory before any model: its main process and each worker, resident set size
# measured on loopback (docs/your-model.md, "Sizing memory and workers": 31 MB and 41-45 MB
# with the echo, Python 3.11, granian 2.8.7, pydantic 2.14), rounded up. A model adds its own
# weight per worker.
RUNTIME_MAIN_MIB = 32
RUNTIME_WORKER_MIB = 45
MAX_TIMEOUT_SECONDS = 3600
MAX_QUEUE = 100_000
# The app's own bounds for a `@batch` model's settings, read from app/__init__.py (import-free by
# design), so the stack and the server cannot disagree. 0 (maxBatchSize) and -1 (maxBatchWaitMs)
# leave the model's own.
MAX_BATCH_SIZE = MAX_BATCH_SIZE_LIMIT
MAX_BATCH_WAIT_MS = MAX_WAIT_MS_LIMIT
# The start-up budget. ECS container health checks allow a start period of 0-300 s
# (RegisterTaskDefinition, HealthCheck.startPeriod); the other targets take up to an hour.
MAX_STARTUP_SECONDS = 3600
ECS_MAX_START_PERIOD_SECONDS = 300
# Environment variable names the `env` key accepts (POSIX portable names, upper case).
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# Names the program sets itself, and the key that sets each (None: not a config key).
RESERVED_ENV: Mapping[str, str | None] = {
    "PORT": "containerPort",
    "HOST": None,
    "WEB_CONCURRENCY": "workers",
    "TIMEOUT": "timeoutSeconds",
    "MAX_QUEUE": "maxQueue",
    "MAX_BATCH_SIZE": "maxBatchSize",
    "MAX_BATCH_WAIT_MS": "maxBatchWaitMs",
    "MODEL_PATH": "modelUri",
    "MODEL_SHA256": "modelSha256",
    "API_KEYS": "apiKeys",
    "METRICS_PORT": None,
    # with monitoring on aws (infra.observability.emf_env)
    "CLOUDWATCH_EMF_NAMESPACE": None,
    "CLOUDWATCH_EMF_SERVICE": None,
    # on aws, pinned against the ALB's idle timeout (infra.aws.edge.alb_timeouts)
    "KEEPALIVE_TIMEOUT": None,
    # on aws, the task's memory (infra.aws.task.aws_container_env)
    "CONTAINER_MEMORY_MB": "memory",
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# The project directory: a relative local modelUri is read from here, as `pulumi up` runs here.
PROJECT_DIR = Path(__file__).resolve().parent.parent.parent


def container_env(settings: Settings) -> list[tuple[str, str]]:
    """The container's environment, identical on every target: PORT, the server's settings,
    MODEL_PATH and MODEL_SHA256 when a model is fetched, then `env` sorted by name."""
    s, m = settings.server, settings.model
    env = [("PORT", str(settings.container_port))]
    if s.workers:
        env.append(("WEB_CONCURRENCY", str(s.workers)))
    if s.timeout_seconds:
        env.append(("TIMEOUT", str(s.timeout_seconds)))
    if s.max_queue >= 0:
        env.append(("MAX_QUEUE", str(s.max_queue)))
    if s.max_batch_size:
        env.append(("MAX_BATCH_SIZE", str(s.max_batch_size)))
    if s.max_batch_wait_ms >= 0:
        env.append(("MAX_BATCH_WAIT_MS", str(s.max_batch_wait_ms)))
    if m.enabled:
        env.append(("MODEL_PATH", m.container_path))
        if m.sha256:
            env.append(("MODEL_SHA256", m.sha256))
    # Issue 14: METRICS_PORT with monitoring; LOG_FORMAT only when not the app's default (text),
    # so a stack without the keys keeps the environment it had.
    o = settings.observability
    if o.monitoring:
        env.append(("METRICS_PORT", str(o.metrics_port)))
    if o.log_format != "text":
        env.append(("LOG_FORMAT", o.log_format))
    return env + list(s.env)


# --- Issue 12: reading and checking the model and server keys ---------------------------------


def _model_and_server(
    read: _Reader, problems: _Problems, cloud: str, gke_mode: str, node_disk_gb: int
) -> tuple[ModelSettings, ServerSettings]:
    k = read.key
    uri = read.string("modelUri")
    sha256 = read.string("modelSha256").lower()
    storage_gib = read.integer("modelStorageGiB")
    model = _model_uri(problems, k, cloud, uri)
    if sha256 and not _SHA256.match(sha256):
        problems.add(
            k("modelSha256"),
            sha256,
            "must be 64 hexadecimal characters (the output of `sha256sum FILE`), or empty",
        )
    elif sha256 and not uri:
        problems.add(k("modelSha256"), sha256, "needs modelUri: it checks the file modelUri names")
    elif sha256 and model.is_prefix:
        problems.add(
            k("modelSha256"),
            sha256,
            "checks one file, but modelUri names a prefix (every object under it); "
            "leave it empty or point modelUri at one object",
        )
    _model_storage(problems, k, cloud, gke_mode, uri, storage_gib, node_disk_gb)
    model = ModelSettings(
        uri=model.uri,
        bucket=model.bucket,
        key=model.key,
        local_path=model.local_path,
        sha256=sha256,
        storage_gib=storage_gib,
    )

    workers = read.integer("workers")
    _check(
        problems,
        k("workers"),
        workers,
        lambda v: 0 <= v <= MAX_WORKERS,
        f"must be from 1 to {MAX_WORKERS} worker processes, or 0 for the app's default "
        "(the CPUs rounded up, 2 to 8)",
    )
    timeout = read.integer("timeoutSeconds")
    _check(
        problems,
        k("timeoutSeconds"),
        timeout,
        lambda v: 0 <= v <= MAX_TIMEOUT_SECONDS,
        f"must be from 1 to {MAX_TIMEOUT_SECONDS} seconds, or 0 for the app's default (30)",
    )
    max_queue = read.integer("maxQueue")
    _check(
        problems,
        k("maxQueue"),
        max_queue,
        lambda v: -1 <= v <= MAX_QUEUE,
        f"must be from 0 to {MAX_QUEUE} waiting requests per worker, or -1 for the app's "
        "default (128)",
    )
    batch_size = read.integer("maxBatchSize")
    _check(
        problems,
        k("maxBatchSize"),
        batch_size,
        lambda v: 0 <= v <= MAX_BATCH_SIZE,
        f"must be from 1 to {MAX_BATCH_SIZE} requests per call of a @batch model, or 0 for the "
        "model's own max_batch_size",
    )
    batch_wait = read.integer("maxBatchWaitMs")
    _check(
        problems,
        k("maxBatchWaitMs"),
        batch_wait,
        lambda v: -1 <= v <= MAX_BATCH_WAIT_MS,
        f"must be from 0 to {MAX_BATCH_WAIT_MS} milliseconds a request may wait for its batch, "
        "or -1 for the model's own max_wait_ms",
    )
    startup = read.integer("startupSeconds")
    if not 0 <= startup <= MAX_STARTUP_SECONDS:
        problems.add(
            k("startupSeconds"),
            startup,
            f"must be from 1 to {MAX_STARTUP_SECONDS} seconds, or 0 for each target's defaults",
        )
    elif cloud == "aws" and startup > ECS_MAX_START_PERIOD_SECONDS:
        problems.add(
            k("startupSeconds"),
            startup,
            f"on aws must be at most {ECS_MAX_START_PERIOD_SECONDS} seconds: the longest start "
            "period an ECS container health check allows",
        )
    env = _env(read, problems)
    return model, ServerSettings(
        workers,
        timeout,
        max_queue,
        env,
        startup,
        max_batch_size=batch_size,
        max_batch_wait_ms=batch_wait,
    )


def _model_uri(problems: _Problems, k: Callable[[str], str], cloud: str, uri: str) -> ModelSettings:
    if not uri:
        return ModelSettings()
    scheme = MODEL_SCHEMES.get(cloud, "")
    given = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if cloud == "local":
        if given:
            problems.add(
                k("modelUri"),
                uri,
                f"the local stack reads a file on this machine: give its path (absolute, or "
                f"relative to {PROJECT_DIR}), not a {given}:// URI",
            )
            return ModelSettings(uri=uri)
        path = Path(uri).expanduser()
        path = path if path.is_absolute() else PROJECT_DIR / path
        if not path.is_file():
            problems.add(k("modelUri"), uri, f"must be an existing file; {path} is not one")
        elif not os.access(path, os.R_OK):
            problems.add(k("modelUri"), uri, f"must be a file you can read; {path} is not")
        return ModelSettings(uri=uri, local_path=str(path.resolve()))
    example = f"{scheme}://BUCKET/models/model.joblib"
    if given != scheme:
        other = {"s3": "aws", "gs": "gcp"}.get(given)
        why = f"a {given}:// URI is for the {other} stack" if other else "another scheme"
        problems.add(k("modelUri"), uri, f"on {cloud} must be {example} ({why}), or empty")
        return ModelSettings(uri=uri)
    bucket, _, key = uri[len(scheme) + 3 :].partition("/")
    if not bucket or not key or key == "/" or "*" in key or "?" in key:
        allowed = (
            f"must name a bucket and an object, {example}"
            + (", or a prefix ending in /" if cloud == "aws" else "")
            + " (no wildcards)"
        )
        problems.add(k("modelUri"), uri, allowed)
        return ModelSettings(uri=uri)
    if cloud == "gcp" and key.endswith("/"):
        problems.add(
            k("modelUri"),
            uri,
            "on gcp must name one object, not a prefix: the Pod fetches a single file "
            "(pack a folder into one archive and load that)",
        )
    return ModelSettings(uri=uri, bucket=bucket, key=key)


def _model_storage(
    problems: _Problems,
    k: Callable[[str], str],
    cloud: str,
    gke_mode: str,
    uri: str,
    storage_gib: int,
    node_disk_gb: int = 40,
) -> None:
    key = k("modelStorageGiB")
    if storage_gib < 0:
        problems.add(key, storage_gib, "must be 0 (the platform's default) or a number of GiB")
    elif storage_gib and not uri:
        problems.add(key, storage_gib, "needs modelUri: it is room for the file modelUri names")
    elif cloud == "aws":
        most = FARGATE_MAX_EPHEMERAL_GIB - FARGATE_DEFAULT_EPHEMERAL_GIB
        if storage_gib > most:
            problems.add(
                key,
                storage_gib,
                f"on aws must be at most {most} GiB: it is added to the task's "
                f"{FARGATE_DEFAULT_EPHEMERAL_GIB} GiB and Fargate allows at most "
                f"{FARGATE_MAX_EPHEMERAL_GIB} GiB of ephemeral storage per task",
            )
    elif cloud == "gcp" and uri:
        if gke_mode == "autopilot":
            most = AUTOPILOT_MAX_EPHEMERAL_GIB - EPHEMERAL_HEADROOM_GIB
            where = (
                f"GKE Autopilot allows {AUTOPILOT_MAX_EPHEMERAL_GIB} GiB of ephemeral storage "
                f"per Pod and the container keeps {EPHEMERAL_HEADROOM_GIB} GiB for /tmp and logs"
            )
        else:
            most = standard_model_storage_max(node_disk_gb)
            where = (
                f"a Pod's volume lives on the node's {node_disk_gb} GB boot disk (nodeDiskSizeGb), "
                f"of which GKE leaves Pods {standard_allocatable_gib(node_disk_gb):.1f} GiB, and "
                f"the container keeps {EPHEMERAL_HEADROOM_GIB} GiB for /tmp and logs"
            )
            if storage_gib > most:
                disk = standard_disk_for(storage_gib)
                where += f"; {storage_gib} GiB needs nodeDiskSizeGb {disk}"
        if not 1 <= storage_gib <= most:
            problems.add(
                key,
                storage_gib,
                f"on gcp with modelUri set must be from 1 to {most} GiB, at least the model "
                f"file's size ({where})",
            )


def _workers_fit(problems: _Problems, k: Callable[[str], str], workers: int, memory: int) -> None:
    """`workers` copies of the runtime alone must fit in `memory`, before any model's weight."""
    if workers and RUNTIME_MAIN_MIB + workers * RUNTIME_WORKER_MIB > memory:
        most = max(0, (memory - RUNTIME_MAIN_MIB) // RUNTIME_WORKER_MIB)
        problems.add(
            k("workers"),
            workers,
            f"does not fit in memory = {memory} MiB: the server's main process takes about "
            f"{RUNTIME_MAIN_MIB} MiB and each worker about {RUNTIME_WORKER_MIB} MiB before any "
            f"model is loaded, so at most {most} workers fit; raise memory or lower workers",
        )


def _env(read: _Reader, problems: _Problems) -> tuple[tuple[str, str], ...]:
    key = read.key("env")
    raw = read._raw("env")
    if raw is None or raw == "":
        return ()
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError:
        entries = None
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        problems.add(key, raw, 'must be a list of "NAME=value" strings, e.g. ["LOG_FORMAT=json"]')
        return ()
    env: dict[str, str] = {}
    for entry in entries:
        name, sep, value = entry.partition("=")
        # The value may be a token: a message shows the name only.
        shown = f"{name}=..." if sep else name
        if not sep or not ENV_NAME.match(name):
            problems.add(
                key,
                shown,
                'each entry must be "NAME=value" with NAME of A-Z, 0-9 and _, not starting '
                "with a digit",
            )
        elif name in RESERVED_ENV:
            instead = RESERVED_ENV[name]
            problems.add(
                key,
                shown,
                f"{name} is set by the program"
                + (f": use the {instead} key instead" if instead else "; it cannot be set here"),
            )
        elif name in env:
            problems.add(key, shown, f"{name} is listed twice")
        else:
            env[name] = value
    return tuple(sorted(env.items()))
