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
