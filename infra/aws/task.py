"""The aws target's task: the Fargate task definition and its one container's definition."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.aws.options import child
from infra.settings import READINESS_PATH, Settings

# The container's name in the task definition; the service's load balancer block refers to it.
CONTAINER_NAME = "app"

# ECS container health check (RegisterTaskDefinition limits: interval 5-300 s, timeout 2-60 s,
# retries 1-10, start period 0-300 s). The image has Python, not curl, so Python does the GET.
CONTAINER_HEALTH_INTERVAL_SECONDS = 10
CONTAINER_HEALTH_TIMEOUT_SECONDS = 5
CONTAINER_HEALTH_RETRIES = 3
CONTAINER_HEALTH_START_PERIOD_SECONDS = 15
# Seconds ECS waits after SIGTERM before SIGKILL (Fargate allows up to 120): enough for the server
# to finish in-flight requests; the ALB has stopped sending new ones by then.
STOP_TIMEOUT_SECONDS = 30

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
    """The Fargate task definition: one container, the image by digest, the stack's family.

    `secrets` maps environment variables to Secrets Manager `valueFrom` references; `after`
    holds what the execution role needs before a task starts (the policy to read them).
    """
    container = container_definition(
        settings,
        image=image_ref,
        log_group=log_group.name,
        region=settings.aws.region,
        secrets=secrets,
    )
    return aws.ecs.TaskDefinition(
        f"{name}-task",
        # Stable per stack: every deploy is a new revision of the same family.
        family=settings.name,
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
        volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)],
        container_definitions=pulumi.Output.json_dumps([container]),
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
    container: dict[str, object] = {
        "name": CONTAINER_NAME,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": port, "protocol": "tcp"}],
        # The app listens on $PORT; WEB_CONCURRENCY is left to the app's own default.
        "environment": [{"name": "PORT", "value": str(port)}],
        "readonlyRootFilesystem": True,
        "mountPoints": [{"sourceVolume": TMP_VOLUME, "containerPath": TMP_PATH, "readOnly": False}],
        "stopTimeout": STOP_TIMEOUT_SECONDS,
        # ECS ignores the image's HEALTHCHECK; this one restarts a hung container even when the
        # ALB has already stopped sending it traffic.
        "healthCheck": {
            "command": ["CMD", "python", "-c", probe],
            "interval": CONTAINER_HEALTH_INTERVAL_SECONDS,
            "timeout": CONTAINER_HEALTH_TIMEOUT_SECONDS,
            "retries": CONTAINER_HEALTH_RETRIES,
            "startPeriod": CONTAINER_HEALTH_START_PERIOD_SECONDS,
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
    if secrets:
        container["secrets"] = [
            {"name": env, "valueFrom": value_from} for env, value_from in sorted(secrets.items())
        ]
    return container
