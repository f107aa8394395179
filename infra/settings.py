"""The one place that reads stack configuration.

`load_settings()` turns `pulumi.Config` into a frozen, typed `Settings` and validates it. Every
problem is collected and reported at once, as a `pulumi.RunError` (which `pulumi up` prints without
a traceback), naming the key, the value given and what is allowed, before any resource exists.

Components take `Settings`, never `pulumi.Config`, so tests can build settings directly.
Defaults here must match the `config:` block of `Pulumi.yaml` (a test checks that they do).
"""

from __future__ import annotations

import json
import os
import platform as host
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    # The public edge (issue 13): HTTPS on a domain, API keys, rate limits. All off by default.
    "domain": "",
    "route53ZoneId": "",
    "dnsZone": "",
    "apiKeys": "",
    "rateLimitPerMinute": 0,
    "managedRules": False,
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

# Environment variables the Google provider reads the project from, in its own order.
GCP_PROJECT_ENV = (
    "GOOGLE_PROJECT",
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
    "CLOUDSDK_CORE_PROJECT",
)
# Environment variables the AWS provider reads the region from.
AWS_REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")


@dataclass(frozen=True)
class AwsSettings:
    """Settings that only the aws target reads."""

    region: str
    vpc_id: str = ""
    subnet_ids: tuple[str, ...] = ()
    certificate_arn: str = ""
    container_insights: bool = False


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
    edge: EdgeSettings = EdgeSettings()

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
        aws = AwsSettings(region, vpc_id, subnet_ids, certificate_arn, container_insights)
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
        gcp = GcpSettings(
            project, region, gke_mode, release_channel, machine_type, node_count, max_node_count
        )
    else:
        # The local stack builds for the machine it runs on; `platform` is for the clouds.
        platform = host_platform()

    edge = _edge(config, read, problems, cloud)

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
        edge=edge,
    )


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
