"""The one place that reads stack configuration.

`load_settings()` turns `pulumi.Config` into a frozen, typed `Settings` and validates it. Every
problem is collected and reported at once, as a `pulumi.RunError` (which `pulumi up` prints without
a traceback), naming the key, the value given and what is allowed, before any resource exists.

Components take `Settings`, never `pulumi.Config`, so tests can build settings directly.
Defaults here must match the `config:` block of `Pulumi.yaml` (a test checks that they do).
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import platform as host
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

PROJECT = "echo-service"
CLOUDS = ("aws", "gcp", "local")
PLATFORMS = ("linux/amd64", "linux/arm64")
GKE_MODES = ("autopilot", "standard")
RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED")

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
}


# The endpoint's health paths (app/endpoint.py). Liveness answers while the process runs;
# readiness once the model has loaded. Load balancers, readiness and container health checks
# ask readiness, so a replica whose model failed to load never takes traffic and its rollout
# stops; only the Kubernetes liveness probe asks liveness (a busy replica is not restarted).
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"

# Fargate task sizes: CPU units -> allowed memory in MiB. Source: AWS ECS developer guide,
# "Task CPU and memory" (Linux containers; 8 and 16 vCPU need platform version 1.4.0).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# CloudWatch Logs retention values (days). Source: CloudWatch Logs API, PutRetentionPolicy.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# GKE Autopilot, general-purpose compute class. Source: GKE docs, "Resource requests in
# Autopilot": Pods get at least 250m vCPU and 512 MiB, at most 30 vCPU and 110 GiB, and between
# 1 and 6.5 GiB of memory per vCPU; requests outside are silently changed (and billed as changed),
# so the program refuses them instead.
AUTOPILOT_MIN_CPU = 250
AUTOPILOT_MAX_CPU = 30 * 1024
AUTOPILOT_MIN_MEMORY = 512
AUTOPILOT_MAX_MEMORY = 110 * 1024
AUTOPILOT_MIN_GIB_PER_VCPU = 1.0
AUTOPILOT_MAX_GIB_PER_VCPU = 6.5

# Standard mode node boot disks. GKE puts a regional node pool in three zones, and a surge
# upgrade adds one node per zone: at maxNodeCount (3 per zone by default) that is 12 boot disks.
# pd-balanced and pd-ssd count against the region's SSD_TOTAL_GB quota; Google publishes no one
# default for it (the Quotas page shows the project's own), and 500 GB is what new projects
# commonly show, some less. GKE's own default, 100 GB, is 1,200 GB at that size; 40 GB is 480 GB.
# Sources: GKE docs, "Configuring a custom boot disk" (pd-balanced default since 1.24, balanced
# and SSD disks use their own quota), "Regional clusters" (three zones), "Configure node
# upgrade strategies" (maxSurge 1 per zone); Compute Engine docs, "Allocation quotas".
NODE_DISK_TYPES = ("pd-balanced", "pd-ssd", "pd-standard", "hyperdisk-balanced")
NODE_DISK_MIN_GB = 10  # Compute Engine's smallest persistent disk
NODE_DISK_MAX_GB = 65536
# --- Issue 12: the model's weights, the server's settings, the start-up budget -----------------

# Where the model's file is inside the container, on every target. Fetched into (aws, gcp) or
# bind-mounted at (local) this folder, which the app container sees read-only.
MODEL_DIR = "/model"
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
# GKE Standard: emptyDir lives on the node's boot disk (`nodeDiskSizeGb`), so no Pod can hold
# more than the disk less what the node keeps for its OS, the kubelet's eviction threshold and
# the images. GKE reserves part of the boot disk by a formula of its size (GKE docs, "Standard
# cluster architecture", node allocatable ephemeral storage); 10 GiB is this program's margin
# for all of it, not a published figure.
STANDARD_NODE_RESERVED_GIB = 10
# The app's own bounds (app/server.py): WEB_CONCURRENCY 1-256, TIMEOUT 1-3600 s, MAX_QUEUE
# 0-100000. 0 (workers, timeoutSeconds) and -1 (maxQueue) leave the app's own default.
MAX_WORKERS = 256
# The app's own memory before any model: its main process and each worker, resident set size
# measured on loopback (README, "Sizing memory and workers": 31 MB and 41-45 MB with the echo,
# Python 3.11, granian 2.8.7, pydantic 2.14), rounded up. A model adds its own weight per worker.
RUNTIME_MAIN_MIB = 32
RUNTIME_WORKER_MIB = 45
MAX_TIMEOUT_SECONDS = 3600
MAX_QUEUE = 100_000
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
    "MODEL_PATH": "modelUri",
    "MODEL_SHA256": "modelSha256",
    "API_KEYS": "apiKeys",
    "METRICS_PORT": None,
    # with monitoring on aws (infra.observability.emf_env)
    "CLOUDWATCH_EMF_NAMESPACE": None,
    "CLOUDWATCH_EMF_SERVICE": None,
    # on aws, pinned against the ALB's idle timeout (infra.aws.edge.alb_timeouts)
    "KEEPALIVE_TIMEOUT": None,
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# The project directory: a relative local modelUri is read from here, as `pulumi up` runs here.
PROJECT_DIR = Path(__file__).resolve().parent.parent


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
    """

    workers: int = 0
    timeout_seconds: int = 0
    max_queue: int = -1
    env: tuple[tuple[str, str], ...] = ()
    startup_seconds: int = 0


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


# Environment variables the Google provider reads the project from, in its own order.
GCP_PROJECT_ENV = (
    "GOOGLE_PROJECT",
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
    "CLOUDSDK_CORE_PROJECT",
)
# Environment variables the AWS provider reads the region from.
AWS_REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")

# The `aws:` settings the default AWS provider would honour (pulumi-aws 7's provider config,
# pulumi_aws/config/vars.py), by how their values are read. The program's explicit provider gets
# each one that is set, so a profile, an assumed role or an account allow-list in the stack
# config applies to every resource, as it would without the explicit provider. `region` is read
# above (it is required); `defaultTags` is merged with the project's labels.
AWS_PROVIDER_STRINGS = (
    "profile", "stsRegion", "customCaBundle", "ec2MetadataServiceEndpoint",
    "ec2MetadataServiceEndpointMode", "httpProxy", "httpsProxy", "noProxy", "retryMode",
    "s3UsEast1RegionalEndpoint", "tagPolicyCompliance",
)  # fmt: skip
AWS_PROVIDER_SECRETS = ("accessKey", "secretKey", "token")
AWS_PROVIDER_BOOLEANS = (
    "insecure", "s3UsePathStyle", "skipCredentialsValidation", "skipMetadataApiCheck",
    "skipRegionValidation", "skipRequestingAccountId", "useDualstackEndpoint", "useFipsEndpoint",
)  # fmt: skip
AWS_PROVIDER_INTEGERS = ("maxRetries", "tokenBucketRateLimiterCapacity")
AWS_PROVIDER_STRING_LISTS = (
    "allowedAccountIds", "forbiddenAccountIds", "sharedConfigFiles", "sharedCredentialsFiles",
    "userAgents",
)  # fmt: skip
# Objects (or lists of objects), by the pulumi_aws Args class their fields must fit.
AWS_PROVIDER_OBJECTS = {
    "assumeRoleWithWebIdentity": "ProviderAssumeRoleWithWebIdentityArgs",
    "ignoreTags": "ProviderIgnoreTagsArgs",
}
AWS_PROVIDER_OBJECT_LISTS = {
    "assumeRoles": "ProviderAssumeRoleArgs",
    "endpoints": "ProviderEndpointArgs",
}
# The container's log formats (the app's LOG_FORMAT): plain text lines, or one JSON object a line.
LOG_FORMATS = ("text", "json")
# What an email address must look like before SNS or Cloud Monitoring is asked to mail it: one @,
# no spaces, a dot in the domain. Deliberately loose; the provider's confirmation mail is the check.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# ALBRequestCountPerTarget target values AWS accepts are positive; above this a replica would be
# asked to serve more than 1,000 requests a second, which no model endpoint here does.
MAX_REQUESTS_PER_REPLICA = 60_000


@dataclass(frozen=True)
class Observability:
    """Issue 14's keys: metrics, logs, dashboards, alarms and scaling on requests.

    Attributes:
        monitoring: Dashboards, alarms (alert policies on gcp) and the metrics port.
        alert_email: Where alarms are mailed; empty for none.
        requests_per_replica: aws: ALBRequestCountPerTarget target per replica a minute; 0 off.
        metrics_port: The container port Prometheus metrics are served on (never public).
        log_format: The container's LOG_FORMAT, text or json.
    """

    monitoring: bool = False
    alert_email: str = ""
    requests_per_replica: int = 0
    metrics_port: int = 9090
    log_format: str = "text"


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


# --- The public edge: HTTPS on a domain, API keys, rate limits ------------------------------------
# A host name: dot-separated DNS labels (letters, digits, inner hyphens), at least two, 253
# characters at most, lower case (ACM and Google-managed certificates name it so), no wildcard:
# one certificate for one endpoint. Source: RFC 1123 section 2.1, RFC 1035 section 2.3.4.
_DNS_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_PATTERN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})+$")
DOMAIN_MAX_LENGTH = 253
# Route 53 hosted zone ids: upper-case letters and digits, e.g. Z0123456789ABCDEFGHIJ.
ROUTE53_ZONE_ID_PATTERN = re.compile(r"^Z[A-Z0-9]{1,31}$")
# Cloud DNS managed zone names: 1-63 of [a-z0-9-], starting with a letter.
DNS_ZONE_PATTERN = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
# API keys travel in `Authorization: Bearer <key>` and in API_KEYS as a comma-separated list, so a
# key is printable ASCII without whitespace or commas. 16 characters at least: a key is a
# password that no rate limit would protect for long if it were short. `openssl rand -hex 32`
# makes a good one.
API_KEY_PATTERN = re.compile(r"^[\x21-\x2b\x2d-\x7e]+$")
API_KEY_MIN_LENGTH = 16
# AWS WAF's rate-based rule: Limit at least 10 per evaluation window, at most 2,000,000,000; the
# window is 60, 120, 300 or 600 s. Sources: botocore's wafv2 model (RateBasedStatement.Limit,
# min 10) and the WAF developer guide, "Rate-based rule high-level settings". The program uses
# the 60 s window, so requests per minute is the rule's Limit as is.
RATE_LIMIT_MIN_PER_MINUTE = 10
# Cloud Armor's throttle rule counts 1 to 1,000,000 requests per interval (the program uses 60 s).
# Source: Cloud Armor docs, "Rate limiting overview".
CLOUD_ARMOR_MAX_PER_MINUTE = 1_000_000
# Google-managed certificates (GKE's ManagedCertificate) take domain names of at most 63
# characters. Source: the ManagedCertificate CRD (GoogleCloudPlatform/gke-managed-certs).
MANAGED_CERT_MAX_DOMAIN = 63
RATE_LIMIT_MAX_PER_MINUTE = 2_000_000_000


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
                "Fix with `pulumi config set <key> <value>` (see README.md, Configuration)."
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


def load_settings(
    config: pulumi.Config | None = None,
    stack: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Reads and validates this stack's configuration.

    Args:
        config: The project's config bag; defaults to `pulumi.Config("echo-service")`.
        stack: The stack name; defaults to `pulumi.get_stack()`.
        env: Environment to read provider fallbacks from (GOOGLE_CLOUD_PROJECT, AWS_REGION);
            defaults to `os.environ`.

    Returns:
        The validated settings.

    Raises:
        pulumi.RunError: naming every key whose value is not allowed, with the value and what
            is allowed.
    """
    config = config or pulumi.Config(PROJECT)
    stack = stack or pulumi.get_stack()
    env = os.environ if env is None else env
    problems = _Problems()
    read = _Reader(config, problems)
    k = read.key
    _refuse_unknown_keys(problems, config.name)

    cloud = read.string("cloud")
    _check(problems, k("cloud"), cloud, lambda v: v in CLOUDS, "must be one of aws, gcp, local")

    container_port = read.integer("containerPort")
    _check(
        problems,
        k("containerPort"),
        container_port,
        lambda v: 1024 <= v <= 65535,
        "must be a port from 1024 to 65535 (the image runs as a non-root user, "
        "which cannot listen below 1024)",
    )
    local_port = read.integer("localPort")
    _check(
        problems,
        k("localPort"),
        local_port,
        lambda v: 1 <= v <= 65535,
        "must be a port from 1 to 65535",
    )

    cpu = read.integer("cpu")
    memory = read.integer("memory")
    _check(
        problems,
        k("cpu"),
        cpu,
        lambda v: v > 0,
        "must be a positive number of CPU units (1024 = 1 vCPU)",
    )
    _check(problems, k("memory"), memory, lambda v: v > 0, "must be a positive number of MiB")

    min_replicas = read.integer("minReplicas")
    max_replicas = read.integer("maxReplicas")
    _check(
        problems, k("minReplicas"), min_replicas, lambda v: 1 <= v <= 100, "must be from 1 to 100"
    )
    _check(
        problems,
        k("maxReplicas"),
        max_replicas,
        lambda v: min_replicas <= v <= 100,
        f"must be from minReplicas ({min_replicas}) to 100",
    )

    target_cpu = read.integer("targetCpuPercent")
    _check(
        problems,
        k("targetCpuPercent"),
        target_cpu,
        lambda v: 10 <= v <= 90,
        "must be a percentage from 10 to 90",
    )

    retention = read.integer("logRetentionDays")
    _check(
        problems,
        k("logRetentionDays"),
        retention,
        lambda v: v in LOG_RETENTION_DAYS,
        "must be one of CloudWatch's retention values: " + ", ".join(map(str, LOG_RETENTION_DAYS)),
    )

    platform = read.string("platform")
    _check(
        problems,
        k("platform"),
        platform,
        lambda v: v in PLATFORMS,
        "must be linux/amd64 or linux/arm64",
    )
    deletion_protection = read.boolean("deletionProtection")

    # Read every target's keys whatever the cloud, so a typo is caught before switching stacks.
    vpc_id = read.string("vpcId")
    subnet_ids = read.strings("subnetIds")
    certificate_arn = read.string("certificateArn")
    container_insights = read.boolean("containerInsights")
    gke_mode = read.string("gkeMode")
    release_channel = read.string("releaseChannel")
    machine_type = read.string("machineType")
    node_count = read.integer("nodeCount")
    max_node_count = read.integer("maxNodeCount")
    network = read.string("network")
    subnetwork = read.string("subnetwork")
    node_disk_size_gb = read.integer("nodeDiskSizeGb")
    node_disk_type = read.string("nodeDiskType")

    observability = _observability(read, problems, cloud, container_port, local_port)

    aws = gcp = None
    if cloud == "aws":
        region = (pulumi.Config("aws").get("region") or _first_env(AWS_REGION_ENV, env)).strip()
        if not region:
            problems.add("aws:region", "", "is required: `pulumi config set aws:region us-east-1`")
        _validate_fargate(problems, k, cpu, memory)
        _validate_network(problems, k, vpc_id, subnet_ids)
        if certificate_arn and not (
            certificate_arn.startswith("arn:aws") and ":acm:" in certificate_arn
        ):
            problems.add(
                k("certificateArn"),
                certificate_arn,
                "must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID) "
                "or empty",
            )
        elif certificate_arn and region and _arn_region(certificate_arn) != region:
            # An ALB can only use a certificate from its own region's ACM; CreateListener
            # would fail after the load balancer exists.
            problems.add(
                k("certificateArn"),
                certificate_arn,
                f"is in {_arn_region(certificate_arn) or 'no region'}, but the load balancer "
                f"is in aws:region {region}: request or import the certificate in {region}",
            )
        provider_args, default_tags = _aws_provider_settings(problems)
        aws = AwsSettings(
            region,
            vpc_id,
            subnet_ids,
            certificate_arn,
            container_insights,
            provider=provider_args,
            default_tags=default_tags,
        )
    elif cloud == "gcp":
        project = (pulumi.Config("gcp").get("project") or _first_env(GCP_PROJECT_ENV, env)).strip()
        if not project:
            problems.add(
                "gcp:project",
                "",
                "is required: `pulumi config set gcp:project YOUR_PROJECT_ID` "
                "(or export GOOGLE_CLOUD_PROJECT)",
            )
        region = (pulumi.Config("gcp").get("region") or env.get("GOOGLE_REGION", "")).strip()
        if not region:
            problems.add(
                "gcp:region", "", "is required: `pulumi config set gcp:region us-central1`"
            )
        _check(
            problems,
            k("gkeMode"),
            gke_mode,
            lambda v: v in GKE_MODES,
            "must be autopilot or standard",
        )
        _check(
            problems,
            k("releaseChannel"),
            release_channel,
            lambda v: v in RELEASE_CHANNELS,
            "must be one of " + ", ".join(RELEASE_CHANNELS),
        )
        _check(
            problems,
            k("platform"),
            platform,
            lambda v: v == "linux/amd64" or v not in PLATFORMS,
            "must be linux/amd64 on gcp (GKE's default node pools and Autopilot's "
            "general-purpose class run x86 nodes)",
        )
        if gke_mode == "autopilot":
            _validate_autopilot(problems, k, cpu, memory)
        else:
            _check(
                problems,
                k("machineType"),
                machine_type,
                lambda v: bool(v),
                "must name a Compute Engine machine type, e.g. e2-standard-2",
            )
            _check(
                problems,
                k("nodeCount"),
                node_count,
                lambda v: 1 <= v <= 100,
                "must be from 1 to 100 nodes per zone",
            )
            _check(
                problems,
                k("maxNodeCount"),
                max_node_count,
                lambda v: max(node_count, 1) <= v <= 1000,
                f"must be from nodeCount ({node_count}) to 1000 nodes per zone",
            )
        _validate_gcp_network(problems, k, network, subnetwork)
        _check(
            problems,
            k("nodeDiskSizeGb"),
            node_disk_size_gb,
            lambda v: NODE_DISK_MIN_GB <= v <= NODE_DISK_MAX_GB,
            f"must be a disk size from {NODE_DISK_MIN_GB} to {NODE_DISK_MAX_GB} GB",
        )
        _check(
            problems,
            k("nodeDiskType"),
            node_disk_type,
            lambda v: v in NODE_DISK_TYPES,
            "must be one of " + ", ".join(NODE_DISK_TYPES),
        )
        gcp = GcpSettings(
            project,
            region,
            gke_mode,
            release_channel,
            machine_type,
            node_count,
            max_node_count,
            network=network,
            subnetwork=subnetwork,
            node_disk_size_gb=node_disk_size_gb,
            node_disk_type=node_disk_type,
        )
    else:
        # The local stack builds for the machine it runs on; `platform` is for the clouds.
        platform = host_platform()

    model, server = _model_and_server(read, problems, cloud, gke_mode, node_disk_size_gb)
    _workers_fit(problems, read.key, server.workers, memory)
    edge = _edge(config, read, problems, cloud)
    if observability.log_format != "text" and "LOG_FORMAT" in dict(server.env):
        problems.add(
            k("logFormat"),
            observability.log_format,
            "is set twice: remove LOG_FORMAT from env, or leave logFormat at text",
        )

    problems.raise_if_any(stack)
    return Settings(
        stack=stack,
        cloud=cloud,
        container_port=container_port,
        cpu=cpu,
        memory=memory,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_cpu_percent=target_cpu,
        log_retention_days=retention,
        platform=platform,
        deletion_protection=deletion_protection,
        local_port=local_port,
        aws=aws,
        gcp=gcp,
        model=model,
        server=server,
        edge=edge,
        observability=observability,
    )


def _observability(
    read: _Reader, problems: _Problems, cloud: str, container_port: int, local_port: int
) -> Observability:
    """Reads and checks issue 14's keys (monitoring, alertEmail, requestsPerReplica, ...)."""
    k = read.key
    monitoring = read.boolean("monitoring")
    alert_email = read.string("alertEmail")
    requests = read.integer("requestsPerReplica")
    metrics_port = read.integer("metricsPort")
    log_format = read.string("logFormat")
    if alert_email and not EMAIL_PATTERN.match(alert_email):
        problems.add(k("alertEmail"), alert_email, "must be an email address, e.g. ops@example.com")
    elif alert_email and not monitoring:
        problems.add(
            k("alertEmail"),
            alert_email,
            "needs monitoring = true (the alarms it would be sent are made by monitoring)",
        )
    _check(
        problems,
        k("requestsPerReplica"),
        requests,
        lambda v: 0 <= v <= MAX_REQUESTS_PER_REPLICA,
        f"must be 0 (off) or requests a minute per replica, from 1 to {MAX_REQUESTS_PER_REPLICA}",
    )
    if requests and cloud == "gcp":
        problems.add(
            k("requestsPerReplica"),
            requests,
            "is aws only: GKE scales on requests only through a metrics adapter you install "
            "yourself (see README, Watching it); the gcp stack scales on CPU",
        )
    _check(
        problems,
        k("metricsPort"),
        metrics_port,
        lambda v: 1024 <= v <= 65535 and v != container_port,
        f"must be a port from 1024 to 65535 other than containerPort ({container_port})",
    )
    if cloud == "local" and monitoring and metrics_port == local_port:
        problems.add(
            k("metricsPort"),
            metrics_port,
            f"must differ from localPort ({local_port}): both are published on localhost",
        )
    _check(
        problems,
        k("logFormat"),
        log_format,
        lambda v: v in LOG_FORMATS,
        "must be text or json",
    )
    return Observability(monitoring, alert_email, requests, metrics_port, log_format)


def _validate_fargate(problems: _Problems, k: Callable[[str], str], cpu: int, memory: int) -> None:
    if cpu not in FARGATE_SIZES:
        problems.add(
            k("cpu"),
            cpu,
            "must be a Fargate task size in CPU units: " + ", ".join(map(str, FARGATE_SIZES)),
        )
    elif memory not in FARGATE_SIZES[cpu]:
        sizes = FARGATE_SIZES[cpu]
        if len(sizes) <= 4:
            allowed = ", ".join(map(str, sizes))
        else:
            allowed = f"{sizes[0]} to {sizes[-1]} in steps of {sizes[1] - sizes[0]}"
        problems.add(k("memory"), memory, f"with cpu {cpu} Fargate allows {allowed} MiB")


def _validate_network(
    problems: _Problems, k: Callable[[str], str], vpc_id: str, subnet_ids: tuple[str, ...]
) -> None:
    if vpc_id and not vpc_id.startswith("vpc-"):
        problems.add(k("vpcId"), vpc_id, "must be a VPC id (vpc-...) or empty for a new VPC")
    bad = [s for s in subnet_ids if not s.startswith("subnet-")]
    if bad:
        problems.add(
            k("subnetIds"), list(subnet_ids), f"must be subnet ids (subnet-...); not {bad}"
        )
    elif vpc_id and len(set(subnet_ids)) < 2:
        problems.add(
            k("subnetIds"),
            list(subnet_ids),
            "must list at least two public subnets of vpcId in different availability zones "
            "(an Application Load Balancer needs two)",
        )
    elif subnet_ids and not vpc_id:
        problems.add(k("vpcId"), vpc_id, "must be set when subnetIds is set")


def _validate_autopilot(
    problems: _Problems, k: Callable[[str], str], cpu: int, memory: int
) -> None:
    if not AUTOPILOT_MIN_CPU <= cpu <= AUTOPILOT_MAX_CPU:
        problems.add(
            k("cpu"),
            cpu,
            f"GKE Autopilot needs {AUTOPILOT_MIN_CPU} to {AUTOPILOT_MAX_CPU} CPU units per Pod "
            "(1024 = 1 vCPU)",
        )
        return
    if not AUTOPILOT_MIN_MEMORY <= memory <= AUTOPILOT_MAX_MEMORY:
        problems.add(
            k("memory"),
            memory,
            f"GKE Autopilot needs {AUTOPILOT_MIN_MEMORY} to {AUTOPILOT_MAX_MEMORY} MiB per Pod",
        )
        return
    gib_per_vcpu = (memory / 1024) / (cpu / 1024)
    if not AUTOPILOT_MIN_GIB_PER_VCPU <= gib_per_vcpu <= AUTOPILOT_MAX_GIB_PER_VCPU:
        low = int(cpu * AUTOPILOT_MIN_GIB_PER_VCPU)
        high = int(cpu * AUTOPILOT_MAX_GIB_PER_VCPU)
        problems.add(
            k("memory"),
            memory,
            f"GKE Autopilot allows 1 to 6.5 GiB per vCPU; with cpu {cpu} that is "
            f"{max(low, AUTOPILOT_MIN_MEMORY)} to {high} MiB",
        )


def _arn_region(arn: str) -> str:
    """The region of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`), or ""."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def _configured_keys(namespace: str) -> list[str]:
    """Every key set in `namespace`, by name, from wherever the SDK reads config."""
    keys = set(pulumi.runtime.config.get_config_env()) | set(pulumi.runtime.config.CONFIG.get())
    prefix = f"{namespace}:"
    return sorted(key[len(prefix) :] for key in keys if key.startswith(prefix))


def _refuse_unknown_keys(problems: _Problems, namespace: str) -> None:
    """A key of the project's namespace that the program does not read is a typo: say so."""
    for name in _configured_keys(namespace):
        if name in DEFAULTS:
            continue
        close = difflib.get_close_matches(name, list(DEFAULTS), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        key = f"{namespace}:{name}"
        # A secret set under a misspelt key is still a secret: never echo it.
        secret = key in pulumi.runtime.config.get_config_secret_keys_env() or (
            pulumi.runtime.config.is_config_secret(key)
        )
        problems.add(
            key,
            "[secret]" if secret else pulumi.runtime.config.get_config(key),
            f"is not a setting of this project; {hint}"
            f"(`pulumi config rm {namespace}:{name}`; the settings are listed in Pulumi.yaml)",
        )


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _aws_args(problems: _Problems, key: str, value: Any, class_name: str) -> Any:
    """One provider object (`{roleArn: ...}`) as its pulumi_aws Args class; None if it fits not."""
    import pulumi_aws  # only the aws target needs it

    args_class = getattr(pulumi_aws, class_name)
    if not isinstance(value, dict):
        problems.add(key, value, "must be an object, as in the AWS provider's documentation")
        return None
    try:
        return args_class(**{_snake(name): item for name, item in value.items()})
    except TypeError:
        fields = [n for n in inspect.signature(args_class.__init__).parameters if n != "__self__"]
        problems.add(
            key, value, "has a field the AWS provider does not know; fields: " + ", ".join(fields)
        )
        return None


def _aws_provider_settings(problems: _Problems) -> tuple[dict[str, Any], dict[str, str]]:
    """The stack's `aws:` settings as keyword arguments for the explicit `aws.Provider`."""
    config = pulumi.Config("aws")
    found: dict[str, Any] = {}

    def key(name: str) -> str:
        return f"aws:{name}"

    def json_value(name: str) -> Any:
        raw = config.get(name)
        if raw is None or raw.strip() == "":
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            problems.add(key(name), raw, "must be JSON or YAML structured config")
            return None

    for name in AWS_PROVIDER_STRINGS:
        value = (config.get(name) or "").strip()
        if value:
            found[_snake(name)] = value
    for name in AWS_PROVIDER_SECRETS:
        if config.get(name) is not None:
            found[_snake(name)] = config.get_secret(name)
    for name in AWS_PROVIDER_BOOLEANS:
        raw = (config.get(name) or "").strip().lower()
        if raw in ("true", "false"):
            found[_snake(name)] = raw == "true"
        elif raw:
            problems.add(key(name), raw, "must be true or false")
    for name in AWS_PROVIDER_INTEGERS:
        raw = (config.get(name) or "").strip()
        if raw.isdigit():
            found[_snake(name)] = int(raw)
        elif raw:
            problems.add(key(name), raw, "must be a whole number")
    for name in AWS_PROVIDER_STRING_LISTS:
        value = json_value(name)
        if value is None:
            continue
        if isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
            # Account ids written unquoted in YAML arrive as numbers.
            found[_snake(name)] = [str(v) for v in value]
        else:
            problems.add(key(name), value, 'must be a list of strings, e.g. ["123456789012"]')
    for name, class_name in AWS_PROVIDER_OBJECTS.items():
        value = json_value(name)
        if value is not None:
            args = _aws_args(problems, key(name), value, class_name)
            if args is not None:
                found[_snake(name)] = args
    for name, class_name in AWS_PROVIDER_OBJECT_LISTS.items():
        value = json_value(name)
        if value is None:
            continue
        if not isinstance(value, list):
            problems.add(key(name), value, "must be a list of objects")
            continue
        items = [
            _aws_args(problems, f"{key(name)}[{i}]", v, class_name) for i, v in enumerate(value)
        ]
        if all(item is not None for item in items):
            found[_snake(name)] = items
    if config.get("assumeRole") is not None:
        # pulumi-aws 7 reads only the list form; the singular key would be ignored silently.
        problems.add(
            "aws:assumeRole",
            config.get("assumeRole"),
            "is not read by pulumi-aws 7: use aws:assumeRoles, a list of {roleArn: ...}",
        )

    default_tags: dict[str, str] = {}
    value = json_value("defaultTags")
    if value is not None:
        tags = value.get("tags") if isinstance(value, dict) else None
        if isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values()):
            default_tags = dict(tags)
        else:
            problems.add("aws:defaultTags", value, 'must be {tags: {NAME: "VALUE", ...}}')
    return found, default_tags


# A network or subnetwork name (RFC 1035, as Compute Engine names resources), or a self link /
# resource path (`projects/P/global/networks/N`, `projects/P/regions/R/subnetworks/S`, e.g. a
# Shared VPC host project's).
_GCP_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_GCP_PATH = re.compile(
    r"^(https://www\.googleapis\.com/compute/v1/)?projects/[^/]+/"
    r"(global/networks|regions/[^/]+/subnetworks)/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
)


def _validate_gcp_network(
    problems: _Problems, k: Callable[[str], str], network: str, subnetwork: str
) -> None:
    paths = {"network": "global/networks", "subnetwork": "regions/REGION/subnetworks"}
    for key, value in (("network", network), ("subnetwork", subnetwork)):
        if value and not (_GCP_NAME.match(value) or _GCP_PATH.match(value)):
            problems.add(
                k(key),
                value,
                f"must be a {key} name (lowercase letters, digits, hyphens), its path "
                f"projects/PROJECT/{paths[key]}/NAME, or empty",
            )
    if subnetwork and not network:
        problems.add(
            k("network"),
            network,
            "must be set when subnetwork is set (GKE would otherwise look for the subnetwork "
            "in the default network)",
        )


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
        "default (16)",
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
    return model, ServerSettings(workers, timeout, max_queue, env, startup)


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
            # GB to GiB, rounded down, less what the node itself keeps (its OS, the images).
            most = int(node_disk_gb * 10**9 / 2**30) - STANDARD_NODE_RESERVED_GIB
            where = (
                f"a Pod's volume lives on the node's {node_disk_gb} GB boot disk (nodeDiskSizeGb)"
            )
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


def _edge(config: pulumi.Config, read: _Reader, problems: _Problems, cloud: str) -> EdgeSettings:
    """Reads and checks the public edge's keys: domain, zones, API keys, rate limits."""
    k = read.key
    domain = read.string("domain").lower().rstrip(".")
    route53_zone_id = read.string("route53ZoneId")
    dns_zone = read.string("dnsZone")
    rate_limit = read.integer("rateLimitPerMinute")
    managed_rules = read.boolean("managedRules")

    if domain and (len(domain) > DOMAIN_MAX_LENGTH or not DOMAIN_PATTERN.match(domain)):
        problems.add(
            k("domain"),
            domain,
            "must be a host name such as model.example.com (letters, digits and hyphens in "
            "dot-separated labels, no wildcard, no scheme or path), or empty",
        )
    if route53_zone_id and not ROUTE53_ZONE_ID_PATTERN.match(route53_zone_id):
        problems.add(
            k("route53ZoneId"), route53_zone_id, "must be a Route 53 hosted zone id (Z...)"
        )
    if dns_zone and not DNS_ZONE_PATTERN.match(dns_zone):
        problems.add(
            k("dnsZone"),
            dns_zone,
            "must be a Cloud DNS managed zone's name (not its DNS name), e.g. example-com",
        )
    for key, value in (("route53ZoneId", route53_zone_id), ("dnsZone", dns_zone)):
        if value and not domain:
            problems.add(k(key), value, f"needs {k('domain')}: the zone is where it goes")
    if rate_limit and not (RATE_LIMIT_MIN_PER_MINUTE <= rate_limit <= RATE_LIMIT_MAX_PER_MINUTE):
        problems.add(
            k("rateLimitPerMinute"),
            rate_limit,
            f"must be 0 (no limit) or from {RATE_LIMIT_MIN_PER_MINUTE} (AWS WAF's lowest "
            f"rate-based limit) to {RATE_LIMIT_MAX_PER_MINUTE:,} requests per minute per client IP",
        )
    if cloud == "gcp":
        if rate_limit and not domain:
            problems.add(
                k("rateLimitPerMinute"),
                rate_limit,
                f"needs {k('domain')} on gcp: Cloud Armor limits requests at the HTTPS load "
                "balancer that the domain brings (the default L4 load balancer has none)",
            )
        if rate_limit > CLOUD_ARMOR_MAX_PER_MINUTE:
            problems.add(
                k("rateLimitPerMinute"),
                rate_limit,
                f"must be at most {CLOUD_ARMOR_MAX_PER_MINUTE:,} on gcp (Cloud Armor's largest "
                "throttle count)",
            )
        if managed_rules:
            problems.add(k("managedRules"), managed_rules, "is for aws stacks only (AWS WAF)")
        if domain and len(domain) > MANAGED_CERT_MAX_DOMAIN:
            problems.add(
                k("domain"),
                domain,
                f"must be at most {MANAGED_CERT_MAX_DOMAIN} characters on gcp (a Google-managed "
                "certificate's limit for a domain name)",
            )

    raw_keys = config.get("apiKeys")
    keys, encrypted = _api_keys(k("apiKeys"), "" if raw_keys is None else raw_keys, problems)
    read_secret = None
    if keys and not encrypted:
        if not pulumi.runtime.is_config_secret(k("apiKeys")):
            pulumi.log.warn(
                f"{k('apiKeys')} is stored in plain text in the stack's file; set it with "
                f"`pulumi config set --secret apiKeys 'KEY1,KEY2'` so it is encrypted"
            )

        # Read as a secret, so every resource input and output it reaches is a secret too.
        def read_secret() -> pulumi.Output[str]:
            return config.require_secret("apiKeys").apply(lambda v: ",".join(_split_keys(v)))

    return EdgeSettings(
        domain=domain,
        route53_zone_id=route53_zone_id,
        dns_zone=dns_zone,
        read_api_keys=read_secret,
        api_key_count=len(keys),
        api_keys_encrypted=encrypted,
        rate_limit_per_minute=rate_limit,
        managed_rules=managed_rules,
    )


def _split_keys(raw: str) -> list[str]:
    """`KEY1,KEY2` or `["KEY1", "KEY2"]` -> the keys, stripped (empty ones kept, to refuse)."""
    text = raw.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list):
            return [str(v).strip() for v in value]
    return [part.strip() for part in text.split(",")]


def _api_keys(key: str, raw: str, problems: _Problems) -> tuple[list[str], bool]:
    """The keys and whether they are still encrypted; problems never show a key's value."""
    text = raw.strip()
    if not text:
        return [], False
    if text.startswith("{"):
        # Read from a stack file without the CLI (the estimate): `{"secure": "v1:..."}`.
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict) and "secure" in value:
            return [], True
    keys = _split_keys(text)
    for index, api_key in enumerate(keys, start=1):
        where = f"{key} = [secret]: key {index} of {len(keys)}"
        if not api_key:
            problems.messages.append(
                f"{where} is empty; give one or more keys separated by commas, e.g. "
                f'`pulumi config set --secret apiKeys "$(openssl rand -hex 32)"`'
            )
        elif not API_KEY_PATTERN.match(api_key):
            problems.messages.append(
                f"{where} holds whitespace, a comma or a non-ASCII character; keys are printable "
                "ASCII without spaces or commas (they travel in an HTTP header)"
            )
        elif len(api_key) < API_KEY_MIN_LENGTH:
            problems.messages.append(
                f"{where} has {len(api_key)} characters; at least {API_KEY_MIN_LENGTH} "
                "(`openssl rand -hex 32` makes a good one)"
            )
    return keys, False
