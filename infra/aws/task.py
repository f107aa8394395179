"""The aws target's task: the Fargate task definition and its one container's definition."""

from __future__ import annotations

import re

import pulumi
import pulumi_aws as aws

from infra.aws.edge import alb_timeouts
from infra.aws.model import FETCH_CONTAINER_NAME, MODEL_VOLUME, fetch_container
from infra.aws.options import child
from infra.observability import emf_env
from infra.settings import (
    FARGATE_DEFAULT_EPHEMERAL_GIB,
    MODEL_DIR,
    READINESS_PATH,
    Settings,
    container_env,
)

# The container's name in the task definition; the service's load balancer block refers to it.
CONTAINER_NAME = "app"
RUN_AS_USER = "10001:10001"  # app/Dockerfile's USER (uid:gid)

# ECS container health check (RegisterTaskDefinition limits: interval 5-300 s, timeout 2-60 s,
# retries 1-10, start period 0-300 s). The image has Python, not curl, so Python does the GET.
CONTAINER_HEALTH_INTERVAL_SECONDS = 10
CONTAINER_HEALTH_TIMEOUT_SECONDS = 5
CONTAINER_HEALTH_RETRIES = 3
CONTAINER_HEALTH_START_PERIOD_SECONDS = 15
# Seconds ECS waits after SIGTERM before SIGKILL (Fargate allows up to 120): enough for the server
# to finish in-flight requests; the ALB has stopped sending new ones by then.
STOP_TIMEOUT_SECONDS = 30


def aws_container_env(settings: Settings) -> list[tuple[str, str]]:
    """`container_env`, with TIMEOUT and KEEPALIVE_TIMEOUT pinned to agree with the ALB, and
    CONTAINER_MEMORY_MB: Fargate sets the task's memory limit above the container's cgroup,
    where the app cannot read it to share it among its workers (app/server.py)."""
    timeout, _idle, keepalive = alb_timeouts(settings)
    env = container_env(settings)
    names = [n for n, _ in env]
    pinned = [
        ("TIMEOUT", str(timeout)),
        ("KEEPALIVE_TIMEOUT", str(keepalive)),
        ("CONTAINER_MEMORY_MB", str(settings.memory)),
    ]
    if "TIMEOUT" in names:  # set by timeoutSeconds: in its place
        i = names.index("TIMEOUT")
        return [*env[:i], *pinned, *env[i + 1 :]]
    i = names.index("WEB_CONCURRENCY") + 1 if "WEB_CONCURRENCY" in names else 1
    return [*env[:i], *pinned, *env[i:]]


# The read-only root filesystem leaves one writable path, /tmp (Python's tempfile, for a model
# library that wants one), backed by the task's ephemeral storage.
TMP_VOLUME = "tmp"
TMP_PATH = "/tmp"

LOG_STREAM_PREFIX = "app"

CPU_ARCHITECTURES = {"linux/amd64": "X86_64", "linux/arm64": "ARM64"}


def task_definition(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    settings: Settings,
    image_ref: pulumi.Output[str],
    log_group: aws.cloudwatch.LogGroup,
    execution_role: aws.iam.Role,
    execution_policy: aws.iam.RolePolicyAttachment,
    task_role: aws.iam.Role,
    secrets: dict[str, pulumi.Input[str]] | None = None,
    after: list[pulumi.Resource] | None = None,
) -> aws.ecs.TaskDefinition:
    """The Fargate task definition: the app's container, the image by digest, the stack's family.

    With `modelUri` set, a fetch container copies the model into a task volume first (see
    `infra.aws.model`), and `modelStorageGiB` adds room to the task's ephemeral storage.
    `secrets` maps environment variables to Secrets Manager `valueFrom` references. `after`: what
    the task definition waits for besides the execution role's policy (the task role's read
    access to the model, the execution role's to the secret), so the first tasks do not start
    without them.
    """
    container = container_definition(
        settings,
        image=image_ref,
        log_group=log_group.name,
        region=settings.aws.region,
        secrets=secrets,
    )
    containers = [container]
    volumes = [aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)]
    model = settings.model
    if model.enabled:
        fetch = fetch_container(settings, log_group=log_group.name, region=settings.aws.region)
        containers = [fetch, container]
        volumes.append(aws.ecs.TaskDefinitionVolumeArgs(name=MODEL_VOLUME))
    storage = None
    if model.storage_gib:
        # Fargate's default 20 GiB holds the image layers and volumes; the model's room is on
        # top of it (ECS allows 21-200 GiB; settings checked the sum).
        storage = aws.ecs.TaskDefinitionEphemeralStorageArgs(
            size_in_gib=FARGATE_DEFAULT_EPHEMERAL_GIB + model.storage_gib
        )
    return aws.ecs.TaskDefinition(
        f"{name}-task",
        # Stable per stack: every deploy is a new revision of the same family. ECS allows
        # letters, digits, `_` and `-` in it; a stack name may also hold dots.
        family=re.sub(r"[^A-Za-z0-9_-]", "-", settings.name),
        network_mode="awsvpc",
        requires_compatibilities=["FARGATE"],
        cpu=str(settings.cpu),
        memory=str(settings.memory),
        runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
            operating_system_family="LINUX",
            # Must match the image's platform: an arm64 image on X86_64 exits at once.
            cpu_architecture=CPU_ARCHITECTURES[settings.platform],
        ),
        execution_role_arn=execution_role.arn,
        task_role_arn=task_role.arn,
        # No host path: on Fargate the volume lives on the task's ephemeral storage.
        volumes=volumes,
        ephemeral_storage=storage,
        container_definitions=pulumi.Output.json_dumps(containers),
        # The role's ARN alone does not wait for its policy: without this, the first tasks
        # may start before the role may pull the image or write logs, and on destroy the
        # policy goes while the service's last tasks still log.
        opts=child(parent, provider, depends_on=[execution_policy, *(after or [])]),
    )


def container_definition(
    settings: Settings,
    *,
    image: pulumi.Input[str],
    log_group: pulumi.Input[str],
    region: str,
    secrets: dict[str, pulumi.Input[str]] | None = None,
) -> dict[str, object]:
    """The one container of the task, in RegisterTaskDefinition's `containerDefinitions` form.

    Args:
        settings: Validated settings (container port).
        image: The image reference by digest.
        log_group: The CloudWatch log group name.
        region: The log group's region.
        secrets: Environment variables ECS fills from Secrets Manager at task start, by name:
            `valueFrom` (the secret's ARN); never the values themselves.

    Returns:
        A dict whose values may be Outputs; serialise it with `pulumi.Output.json_dumps`.
    """
    port = settings.container_port
    probe = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{port}{READINESS_PATH}', "
        f"timeout={CONTAINER_HEALTH_TIMEOUT_SECONDS - 1})"
    )
    mounts = [{"sourceVolume": TMP_VOLUME, "containerPath": TMP_PATH, "readOnly": False}]
    definition: dict[str, object] = {
        "name": CONTAINER_NAME,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": port, "protocol": "tcp"}],
        # The app listens on $PORT; the server's settings and the model's path when set
        # (infra.settings.container_env, the same on every target), and on aws the timeouts
        # that must agree with the ALB's idle timeout (see alb_timeouts).
        # With monitoring also METRICS_PORT (no port mapping: only the task itself reaches it)
        # and the EMF settings the app's access lines carry (infra.observability.emf_env).
        "environment": [
            {"name": n, "value": v} for n, v in [*aws_container_env(settings), *emf_env(settings)]
        ],
        "readonlyRootFilesystem": True,
        # The image's own USER, said again: the task definition then shows (and the policy pack
        # checks) that the app never runs as root, whatever image a user points it at.
        "user": RUN_AS_USER,
        "mountPoints": mounts,
        "stopTimeout": STOP_TIMEOUT_SECONDS,
        # ECS ignores the image's HEALTHCHECK; this one restarts a hung container even when the
        # ALB has already stopped sending it traffic.
        "healthCheck": {
            "command": ["CMD", "python", "-c", probe],
            "interval": CONTAINER_HEALTH_INTERVAL_SECONDS,
            "timeout": CONTAINER_HEALTH_TIMEOUT_SECONDS,
            "retries": CONTAINER_HEALTH_RETRIES,
            "startPeriod": settings.server.startup_seconds or CONTAINER_HEALTH_START_PERIOD_SECONDS,
        },
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": LOG_STREAM_PREFIX,
            },
        },
    }
    if settings.model.enabled:
        # The model, read-only, once the fetch container has copied it and exited 0.
        mounts.append({"sourceVolume": MODEL_VOLUME, "containerPath": MODEL_DIR, "readOnly": True})
        definition["dependsOn"] = [{"containerName": FETCH_CONTAINER_NAME, "condition": "SUCCESS"}]
    if secrets:
        definition["secrets"] = [
            {"name": env, "valueFrom": value_from} for env, value_from in sorted(secrets.items())
        ]
    return definition
