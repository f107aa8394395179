"""The one place that reads stack configuration.

`load_settings()` turns `pulumi.Config` into a frozen, typed `Settings` and validates it. Every
problem is collected and reported at once, as a `pulumi.RunError` (which `pulumi up` prints without
a traceback), naming the key, the value given and what is allowed, before any resource exists.

Components take `Settings`, never `pulumi.Config`, so tests can build settings directly.
Defaults (`core.DEFAULTS`) must match the `config:` block of `Pulumi.yaml` (a test checks that
they do).

By concern: `core` (the keys and their defaults, the `Settings` dataclasses, `_Reader` and
`_Problems`), `aws`, `gcp`, `model` (the model, the server's settings, `env`, `container_env`),
`edge`, `observability` and `keys` (unknown keys, and cloud-only keys on the local stack). Every
name is re-exported here, so `from infra.settings import ...` works as it did.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pulumi

from infra.settings.aws import (
    AWS_PROVIDER_BOOLEANS,
    AWS_PROVIDER_INTEGERS,
    AWS_PROVIDER_OBJECT_LISTS,
    AWS_PROVIDER_OBJECTS,
    AWS_PROVIDER_SECRETS,
    AWS_PROVIDER_STRING_LISTS,
    AWS_PROVIDER_STRINGS,
    AWS_REGION_ENV,
    CANARY_PERCENT_RANGE,
    DEFAULT_ROLLOUT_PERCENT,
    FARGATE_SIZES,
    LINEAR_PERCENT_RANGE,
    MAX_BAKE_MINUTES,
    MAX_TOTAL_BAKE_MINUTES,
    MIN_BAKE_MINUTES,
    ROLLOUT_STRATEGIES,
    _arn_region,
    _aws_args,
    _aws_provider_settings,
    _rollout,
    _snake,
    _validate_fargate,
    _validate_network,
    rollout_bake_total,
)
from infra.settings.core import (
    CLOUDS,
    DEFAULTS,
    LIVENESS_PATH,
    LOG_RETENTION_DAYS,
    MODEL_DIR,
    PLATFORMS,
    PROJECT,
    READINESS_PATH,
    AwsSettings,
    EdgeSettings,
    GcpSettings,
    ModelSettings,
    Observability,
    Rollout,
    ServerSettings,
    Settings,
    _check,
    _first_env,
    _Problems,
    _Reader,
    host_platform,
)
from infra.settings.edge import (
    _DNS_LABEL,
    API_KEY_MIN_LENGTH,
    API_KEY_PATTERN,
    CLOUD_ARMOR_MAX_PER_MINUTE,
    DNS_ZONE_PATTERN,
    DOMAIN_MAX_LENGTH,
    DOMAIN_PATTERN,
    MANAGED_CERT_MAX_DOMAIN,
    RATE_LIMIT_MAX_PER_MINUTE,
    RATE_LIMIT_MIN_PER_MINUTE,
    ROUTE53_ZONE_ID_PATTERN,
    _api_keys,
    _edge,
    _split_keys,
)
from infra.settings.gcp import (
    _GCP_NAME,
    _GCP_PATH,
    AUTOPILOT_MAX_CPU,
    AUTOPILOT_MAX_GIB_PER_VCPU,
    AUTOPILOT_MAX_MEMORY,
    AUTOPILOT_MIN_CPU,
    AUTOPILOT_MIN_GIB_PER_VCPU,
    AUTOPILOT_MIN_MEMORY,
    GCP_PROJECT_ENV,
    GKE_MODES,
    NODE_DISK_MAX_GB,
    NODE_DISK_MIN_GB,
    NODE_DISK_TYPES,
    RELEASE_CHANNELS,
    _validate_autopilot,
    _validate_gcp_network,
)
from infra.settings.keys import (
    CLOUD_ONLY_KEYS,
    _configured_keys,
    _refuse_cloud_only_keys,
    _refuse_unknown_keys,
)
from infra.settings.model import (
    _SHA256,
    AUTOPILOT_MAX_EPHEMERAL_GIB,
    ECS_MAX_START_PERIOD_SECONDS,
    ENV_NAME,
    EPHEMERAL_HEADROOM_GIB,
    FARGATE_DEFAULT_EPHEMERAL_GIB,
    FARGATE_MAX_EPHEMERAL_GIB,
    MAX_QUEUE,
    MAX_STARTUP_SECONDS,
    MAX_TIMEOUT_SECONDS,
    MAX_WORKERS,
    MODEL_SCHEMES,
    PROJECT_DIR,
    RESERVED_ENV,
    RUNTIME_MAIN_MIB,
    RUNTIME_WORKER_MIB,
    _env,
    _model_and_server,
    _model_storage,
    _model_uri,
    _workers_fit,
    container_env,
    standard_allocatable_gib,
    standard_model_storage_max,
)
from infra.settings.observability import (
    EMAIL_PATTERN,
    LOG_FORMATS,
    MAX_REQUESTS_PER_REPLICA,
    _alarm_latency_fits,
    _observability,
)

# Every name the module had before it was split, public or not: other modules and tests import
# them from here.
__all__ = [
    "API_KEY_MIN_LENGTH",
    "API_KEY_PATTERN",
    "AUTOPILOT_MAX_CPU",
    "AUTOPILOT_MAX_EPHEMERAL_GIB",
    "AUTOPILOT_MAX_GIB_PER_VCPU",
    "AUTOPILOT_MAX_MEMORY",
    "AUTOPILOT_MIN_CPU",
    "AUTOPILOT_MIN_GIB_PER_VCPU",
    "AUTOPILOT_MIN_MEMORY",
    "AWS_PROVIDER_BOOLEANS",
    "AWS_PROVIDER_INTEGERS",
    "AWS_PROVIDER_OBJECTS",
    "AWS_PROVIDER_OBJECT_LISTS",
    "AWS_PROVIDER_SECRETS",
    "AWS_PROVIDER_STRINGS",
    "AWS_PROVIDER_STRING_LISTS",
    "AWS_REGION_ENV",
    "CANARY_PERCENT_RANGE",
    "CLOUDS",
    "CLOUD_ARMOR_MAX_PER_MINUTE",
    "CLOUD_ONLY_KEYS",
    "DEFAULTS",
    "DEFAULT_ROLLOUT_PERCENT",
    "DNS_ZONE_PATTERN",
    "DOMAIN_MAX_LENGTH",
    "DOMAIN_PATTERN",
    "ECS_MAX_START_PERIOD_SECONDS",
    "EMAIL_PATTERN",
    "ENV_NAME",
    "EPHEMERAL_HEADROOM_GIB",
    "FARGATE_DEFAULT_EPHEMERAL_GIB",
    "FARGATE_MAX_EPHEMERAL_GIB",
    "FARGATE_SIZES",
    "GCP_PROJECT_ENV",
    "GKE_MODES",
    "LINEAR_PERCENT_RANGE",
    "LIVENESS_PATH",
    "LOG_FORMATS",
    "LOG_RETENTION_DAYS",
    "MANAGED_CERT_MAX_DOMAIN",
    "MAX_BAKE_MINUTES",
    "MAX_QUEUE",
    "MAX_REQUESTS_PER_REPLICA",
    "MAX_STARTUP_SECONDS",
    "MAX_TIMEOUT_SECONDS",
    "MAX_TOTAL_BAKE_MINUTES",
    "MAX_WORKERS",
    "MIN_BAKE_MINUTES",
    "MODEL_DIR",
    "MODEL_SCHEMES",
    "NODE_DISK_MAX_GB",
    "NODE_DISK_MIN_GB",
    "NODE_DISK_TYPES",
    "PLATFORMS",
    "PROJECT",
    "PROJECT_DIR",
    "RATE_LIMIT_MAX_PER_MINUTE",
    "RATE_LIMIT_MIN_PER_MINUTE",
    "READINESS_PATH",
    "RELEASE_CHANNELS",
    "RESERVED_ENV",
    "ROLLOUT_STRATEGIES",
    "ROUTE53_ZONE_ID_PATTERN",
    "RUNTIME_MAIN_MIB",
    "RUNTIME_WORKER_MIB",
    "_DNS_LABEL",
    "_GCP_NAME",
    "_GCP_PATH",
    "_SHA256",
    "AwsSettings",
    "EdgeSettings",
    "GcpSettings",
    "ModelSettings",
    "Observability",
    "Rollout",
    "ServerSettings",
    "Settings",
    "_Problems",
    "_Reader",
    "_api_keys",
    "_arn_region",
    "_aws_args",
    "_aws_provider_settings",
    "_check",
    "_configured_keys",
    "_edge",
    "_env",
    "_first_env",
    "_model_and_server",
    "_model_storage",
    "_model_uri",
    "_observability",
    "_refuse_cloud_only_keys",
    "_refuse_unknown_keys",
    "_rollout",
    "_snake",
    "_split_keys",
    "_validate_autopilot",
    "_validate_fargate",
    "_validate_gcp_network",
    "_validate_network",
    "_workers_fit",
    "container_env",
    "host_platform",
    "load_settings",
    "rollout_bake_total",
    "standard_allocatable_gib",
    "standard_model_storage_max",
]


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
    _alarm_latency_fits(problems, k("alarmLatencyMs"), observability, server.timeout_seconds, cloud)
    edge = _edge(config, read, problems, cloud)
    rollout = _rollout(read, problems, cloud, observability)
    if cloud == "local":
        _refuse_cloud_only_keys(read, problems)
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
        rollout_plan=rollout,
    )
