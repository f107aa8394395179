"""The aws target's IAM: the task execution role (with its managed policy) and the task role."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.aws.options import child

EXECUTION_ROLE_POLICY = "policy/service-role/AmazonECSTaskExecutionRolePolicy"


def roles(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    partition: pulumi.Output[str],
    account_id: pulumi.Output[str],
) -> tuple[aws.iam.Role, aws.iam.RolePolicyAttachment, aws.iam.Role]:
    """The execution role, its policy attachment, and the container's own (empty) task role."""
    # ECS's agent uses the execution role to pull the image and write logs; nothing else.
    # aws:SourceAccount as on the task role: only this account's tasks may assume it (AWS ECS
    # developer guide, "Amazon ECS task execution IAM role", confused deputy prevention).
    execution_role = aws.iam.Role(
        f"{name}-execution",
        description="echo-service: ECS pulls the image from ECR and writes logs",
        assume_role_policy=account_id.apply(
            lambda account: json.dumps(_ecs_tasks_trust(source_account=account))
        ),
        opts=child(parent, provider),
    )
    execution_policy = aws.iam.RolePolicyAttachment(
        f"{name}-execution",
        role=execution_role.name,
        policy_arn=pulumi.Output.concat("arn:", partition, ":iam::aws:", EXECUTION_ROLE_POLICY),
        opts=child(parent, provider),
    )
    # The role the container's code runs as. No permissions: an echo needs none. A real
    # model that loads weights from S3 gets e.g. an s3:GetObject policy attached here.
    # aws:SourceAccount keeps other accounts' tasks from assuming it (confused deputy).
    task_role = aws.iam.Role(
        f"{name}-task",
        description="echo-service: the container's own AWS permissions (none yet)",
        assume_role_policy=account_id.apply(
            lambda account: json.dumps(_ecs_tasks_trust(source_account=account))
        ),
        opts=child(parent, provider),
    )
    return execution_role, execution_policy, task_role


def _ecs_tasks_trust(source_account: str | None = None) -> dict[str, object]:
    statement: dict[str, object] = {
        "Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    if source_account:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return {"Version": "2012-10-17", "Statement": [statement]}
