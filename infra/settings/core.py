"""The settings' shared part: the project's keys and defaults, the typed `Settings` and the
pieces each concern's reader uses (`_Reader`, `_Problems`, `_check`).

Defaults here must match the `config:` block of `Pulumi.yaml` (a test checks that they do).
"""

from __future__ import annotations

import json
import platform as host
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

PROJECT = "echo-service"
CLOUDS = ("aws", "gcp", "local")
PLATFORMS = ("linux/amd64", "linux/arm64")

# Every key of the project's namespace and its default; a test compares them with Pulumi.yaml.
DEFAULTS: Mapping[str, Any] = {
    "cloud": "local",
    "containerPort": 8080,
    "cpu": 256,
    "memory": 512,
    "minReplicas": 2,
    "maxReplicas": 4,
    "targetCpuPercent": 60,
    "logRetentionDays": 14,
    "platform": "linux/amd64",
    "deletionProtection": False,
    "vpcId": "",
    "subnetIds": [],
    "certificateArn": "",
    "containerInsights": False,
    "gkeMode": "autopilot",
    "releaseChannel": "REGULAR",
    "machineType": "e2-standard-2",
    "nodeCount": 1,
    "maxNodeCount": 3,
    "localPort": 8080,
    # gcp: the cluster's network, and Standard mode's node boot disks (issue 11).
    "network": "",
    "subnetwork": "",
    "nodeDiskSizeGb": 40,
    "nodeDiskType": "pd-balanced",
    # Issue 12: the model's weights, the server's settings and the start-up budget.
    "modelUri": "",
    "modelSha256": "",
    "modelStorageGiB": 0,
    "workers": 0,
    "timeoutSeconds": 0,
    "maxQueue": -1,
    "maxBatchSize": 0,
    "maxBatchWaitMs": -1,
    "env": [],
    "startupSeconds": 0,
    # The public edge (issue 13): HTTPS on a domain, API keys, rate limits. All off by default.
    "domain": "",
    "route53ZoneId": "",
    "dnsZone": "",
    "apiKeys": "",
    "rateLimitPerMinute": 0,
    "managedRules": False,
    # Issue 14: metrics, dashboards, alarms and scaling on requests (all off by default).
    "monitoring": False,
    "alertEmail": "",
    "requestsPerReplica": 0,
    "metricsPort": 9090,
    "logFormat": "text",
    # aws with monitoring: the deployment alarms' thresholds, and whether they roll a deploy back.
    "alarmLatencyMs": 2500,
    "alarmErrorPercent": 5,
    "rollbackOnAlarm": True,
    # Issue 19: how a new version reaches the replicas (aws: ECS's native strategies).
    "rollout": "rolling",
    "rolloutPercent": 0,
    "rolloutBakeMinutes": 5,
}

# The endpoint's health paths (app/endpoint.py). Liveness answers while the process runs;
# readiness once the model has loaded. Load balancers, readiness and container health checks
# ask readiness, so a replica whose model failed to load never takes traffic and its rollout
# stops; only the Kubernetes liveness probe asks liveness (a busy replica is not restarted).
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"

# CloudWatch Logs retention values (days). Source: CloudWatch Logs API, PutRetentionPolicy.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# Where the model's file is inside the container, on every target. Fetched into (aws, gcp) or
# bind-mounted at (local) this folder, which the app container sees read-only.
MODEL_DIR = "/model"


@dataclass(frozen=True)
class ModelSettings:
    """Where the model's weights come from and how they are checked.

    Attributes:
        uri: `modelUri` as given; empty when the model is baked into the image.
        bucket: The S3 or GCS bucket (aws, gcp).
        key: The object key, or a prefix ending in `/` (aws only).
        local_path: The absolute path of the local file (local).
        sha256: Lower-case hex digest the file must have, or empty.
        storage_gib: Room reserved for the weights in GiB (0: the platform's default).
    """

    uri: str = ""
    bucket: str = ""
    key: str = ""
    local_path: str = ""
    sha256: str = ""
    storage_gib: int = 0

    @property
    def enabled(self) -> bool:
        """Whether the stack fetches (or mounts) a model file at all."""
        return bool(self.uri)

    @property
    def is_prefix(self) -> bool:
        """Whether `modelUri` names every object under a prefix rather than one object."""
        return self.key.endswith("/")

    @property
    def file_name(self) -> str:
        """The model file's name inside MODEL_DIR."""
        return Path(self.local_path or self.key).name

    @property
    def container_path(self) -> str:
        """MODEL_PATH: the file inside the container, or MODEL_DIR itself for a prefix."""
        return MODEL_DIR if self.is_prefix else f"{MODEL_DIR}/{self.file_name}"


@dataclass(frozen=True)
class ServerSettings:
    """The server settings a model needs, passed to the container's environment.

    Attributes:
        workers: WEB_CONCURRENCY, or 0 for the app's default.
        timeout_seconds: TIMEOUT, or 0 for the app's default.
        max_queue: MAX_QUEUE, or -1 for the app's default.
        env: Extra environment variables, (name, value) pairs sorted by name.
        startup_seconds: The start-up budget, or 0 for each target's own defaults.
        max_batch_size: MAX_BATCH_SIZE, or 0 for the model's own `@batch` value.
        max_batch_wait_ms: MAX_BATCH_WAIT_MS, or -1 for the model's own `@batch` value.
    """

    workers: int = 0
    timeout_seconds: int = 0
    max_queue: int = -1
    env: tuple[tuple[str, str], ...] = ()
    startup_seconds: int = 0
    max_batch_size: int = 0
    max_batch_wait_ms: int = -1


@dataclass(frozen=True)
class Observability:
    """Issue 14's keys: metrics, logs, dashboards, alarms and scaling on requests.

    Attributes:
        monitoring: Dashboards, alarms (alert policies on gcp) and the metrics port.
        alert_email: Where alarms are mailed; empty for none.
        requests_per_replica: aws: ALBRequestCountPerTarget target per replica a minute; 0 off.
        metrics_port: The container port Prometheus metrics are served on (never public).
        log_format: The container's LOG_FORMAT, text or json.
        alarm_latency_ms: aws: the p99 latency alarm's threshold, in milliseconds.
        alarm_error_percent: aws: the 5xx alarm's threshold, in percent of requests.
        rollback_on_alarm: aws: whether those two alarms roll a deploy back.
    """

    monitoring: bool = False
    alert_email: str = ""
    requests_per_replica: int = 0
    metrics_port: int = 9090
    log_format: str = "text"
    alarm_latency_ms: int = 2500
    alarm_error_percent: int = 5
    rollback_on_alarm: bool = True


@dataclass(frozen=True)
class Rollout:
    """Issue 19's keys: how a new version reaches the replicas.

    Attributes:
        strategy: `rolling` (replace the tasks, the default), `canary` or `linear`.
        percent: canary: the share of traffic the new version gets first; linear: the share each
            step adds. 0 when `rolling`.
        bake_minutes: How long each step (and the end, before the old version stops) is
            watched by the alarms before the next. 0 when `rolling`.
    """

    strategy: str = "rolling"
    percent: int = 0
    bake_minutes: int = 0

    @property
    def shifts_traffic(self) -> bool:
        """Whether a deploy shifts traffic in steps between two target groups (not rolling)."""
        return self.strategy != "rolling"


@dataclass(frozen=True)
class AwsSettings:
    """Settings that only the aws target reads.

    Attributes:
        provider: Keyword arguments for `aws.Provider` from the stack's other `aws:` settings
            (profile, assumeRoles, allowedAccountIds, ...): only those that are set.
        default_tags: The stack's own `aws:defaultTags` tags, merged under the project's labels.
    """

    region: str
    vpc_id: str = ""
    subnet_ids: tuple[str, ...] = ()
    certificate_arn: str = ""
    container_insights: bool = False
    provider: Mapping[str, Any] = field(default_factory=dict)
    default_tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GcpSettings:
    """Settings that only the gcp target reads."""

    project: str
    region: str
    gke_mode: str = "autopilot"
    release_channel: str = "REGULAR"
    machine_type: str = "e2-standard-2"
    node_count: int = 1
    max_node_count: int = 3
    network: str = ""
    subnetwork: str = ""
    node_disk_size_gb: int = 40
    node_disk_type: str = "pd-balanced"


@dataclass(frozen=True)
class EdgeSettings:
    """The public edge's settings (all off by default): HTTPS on a domain, keys, rate limits.

    Attributes:
        domain: The endpoint's host name (`model.example.com`); empty: the plain HTTP default.
        route53_zone_id: aws: the Route 53 hosted zone holding `domain`; empty: looked up.
        dns_zone: gcp: the Cloud DNS managed zone holding `domain`; empty: DNS is the user's.
        read_api_keys: Reads the keys, comma-joined, as a secret Output (from
            `require_secret`); None when no key is set. Called only when a component needs
            them, so a run without resources (the estimate) creates no Output.
        api_key_count: How many keys are set (0 without keys, or when they are encrypted and
            only their presence is known, see `api_keys_encrypted`).
        api_keys_encrypted: The keys were read from a stack file without the Pulumi CLI
            (the cost estimate): present, but not decrypted nor checked.
        rate_limit_per_minute: Requests per minute one client IP may send; 0 is no limit.
        managed_rules: aws: add AWS's managed common rule set to the web ACL.
    """

    domain: str = ""
    route53_zone_id: str = ""
    dns_zone: str = ""
    read_api_keys: Callable[[], pulumi.Output[str]] | None = field(
        default=None, repr=False, compare=False
    )
    api_key_count: int = 0
    api_keys_encrypted: bool = False
    rate_limit_per_minute: int = 0
    managed_rules: bool = False

    @property
    def api_keys(self) -> pulumi.Output[str] | None:
        """The keys, comma-joined, as a secret Output; None when no key is set."""
        return self.read_api_keys() if self.read_api_keys is not None else None

    @property
    def has_api_keys(self) -> bool:
        """Whether the endpoint asks callers for a key."""
        return self.api_key_count > 0 or self.api_keys_encrypted

    @property
    def web_acl(self) -> bool:
        """aws: whether a WAF web ACL fronts the load balancer."""
        return self.rate_limit_per_minute > 0 or self.managed_rules


@dataclass(frozen=True)
class Settings:
    """Everything the program needs, validated. Build it with `load_settings()` or directly.

    Attributes:
        stack: The Pulumi stack name; physical names and tags derive from it.
        cloud: Which target to build: aws, gcp or local.
        cpu: CPU per replica in CPU units (1024 = 1 vCPU).
        memory: Memory per replica in MiB.
        platform: The platform the image is built for (`os/arch`).
        aws: The aws target's settings when `cloud` is aws, else None.
        gcp: The gcp target's settings when `cloud` is gcp, else None.
    """

    stack: str
    cloud: str = "local"
    container_port: int = 8080
    cpu: int = 256
    memory: int = 512
    min_replicas: int = 2
    max_replicas: int = 4
    target_cpu_percent: int = 60
    log_retention_days: int = 14
    platform: str = "linux/amd64"
    deletion_protection: bool = False
    local_port: int = 8080
    aws: AwsSettings | None = None
    gcp: GcpSettings | None = None
    project: str = PROJECT
    model: ModelSettings = field(default_factory=ModelSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    edge: EdgeSettings = EdgeSettings()
    observability: Observability = Observability()
    rollout_plan: Rollout = Rollout()

    @property
    def labels(self) -> dict[str, str]:
        """Tags and labels put on every resource, once (AWS default_tags, GCP and k8s labels)."""
        return {"project": self.project, "stack": self.stack, "managed-by": "pulumi"}

    @property
    def name(self) -> str:
        """A short name unique per stack, for the few resources that need a physical name."""
        return f"{self.project}-{self.stack}"


class _Problems:
    """Collects every invalid value, so a user fixes them all in one go."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, key: str, value: Any, allowed: str) -> None:
        shown = json.dumps(value) if not isinstance(value, str) else repr(value)
        self.messages.append(f"{key} = {shown}: {allowed}")

    def raise_if_any(self, stack: str) -> None:
        if self.messages:
            lines = "\n".join(f"  - {m}" for m in self.messages)
            raise pulumi.RunError(
                f"Invalid configuration for stack '{stack}':\n{lines}\n"
                "Fix with `pulumi config set <key> <value>` (see docs/reference/stack-settings.md)."
            )


class _Reader:
    """Reads typed values from a `pulumi.Config`, recording type errors instead of raising."""

    def __init__(self, config: pulumi.Config, problems: _Problems) -> None:
        self.config = config
        self.problems = problems
        self.ns = config.name

    def key(self, name: str) -> str:
        return f"{self.ns}:{name}"

    def _raw(self, name: str) -> str | None:
        raw = self.config.get(name)
        return None if raw is None else str(raw).strip()

    def string(self, name: str) -> str:
        raw = self._raw(name)
        return DEFAULTS[name] if raw is None else raw

    def integer(self, name: str) -> int:
        default = DEFAULTS[name]
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            return int(raw, 10)
        except ValueError:
            self.problems.add(self.key(name), raw, "must be a whole number")
            return default

    def boolean(self, name: str) -> bool:
        default = DEFAULTS[name]
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        self.problems.add(self.key(name), raw, "must be true or false")
        return default

    def strings(self, name: str) -> tuple[str, ...]:
        raw = self._raw(name)
        if raw is None or raw == "":
            return ()
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problems.add(
                self.key(name),
                raw,
                'must be a list of strings, e.g. ["subnet-0abc", "subnet-0def"]',
            )
            return ()
        return tuple(v.strip() for v in value)


def _check(
    problems: _Problems, key: str, value: Any, ok: Callable[[Any], bool], allowed: str
) -> None:
    if not ok(value):
        problems.add(key, value, allowed)


def host_platform() -> str:
    """The `linux/<arch>` matching this machine, so a local image never runs under emulation."""
    machine = host.machine().lower()
    return "linux/arm64" if machine in ("arm64", "aarch64") else "linux/amd64"


def _first_env(names: tuple[str, ...], env: Mapping[str, str]) -> str:
    return next((env[n].strip() for n in names if env.get(n, "").strip()), "")
