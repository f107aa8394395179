"""The aws target's model fetch: an init container that copies `modelUri` from S3 into a task
volume before the app starts, and the task role's read access to exactly that object or prefix.

How a bad fetch stops the rollout. The fetch container is not essential and the app container
depends on it with condition SUCCESS ("the same as COMPLETE, but it also requires that the
container exits with a zero status", ECS API reference, ContainerDependency). When it exits
non-zero, the ECS agent marks the app container's dependency as one that can never be resolved
and stops it (aws/amazon-ecs-agent#3218, merged 2022: "This new behavior triggers a chain
reaction that eventually stops the task if an essential container has terminal dependency
errors"; before it, such tasks hung in PENDING, aws/amazon-ecs-agent#2579). The app container is
essential, so the task stops; the service's deployment circuit breaker counts a task that stops
before it reaches RUNNING as a failed launch, and with rollback on restores the previous task
definition (`deployed_or_fail` then fails `pulumi up`). Not verified against a real account.

No `startTimeout` is set on the fetch container: Fargate allows 2-120 s, and copying a large
model may take longer; the fetch either finishes or fails (the CLI gives up on its own retries).
"""

from __future__ import annotations

import hashlib
import json
import shlex

import pulumi
import pulumi_aws as aws

from infra.aws.options import child
from infra.settings import MODEL_DIR, ModelSettings, Settings

# The official AWS CLI v2 image from ECR Public (reachable without a NAT gateway: the tasks have
# public IPs), pinned by tag. It has sh and coreutils' sha256sum. It only runs at task start;
# the app's image stays free of any AWS SDK.
FETCH_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.27.26"
FETCH_CONTAINER_NAME = "model-fetch"
FETCH_LOG_STREAM_PREFIX = "model-fetch"
# The task volume the model is copied into; on Fargate it lives on the task's ephemeral storage.
MODEL_VOLUME = "model"


def model_policy(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    partition: pulumi.Output[str],
    task_role: aws.iam.Role,
    model: ModelSettings,
) -> aws.iam.RolePolicy:
    """The task role's read access to the model's object (or prefix): one policy per location.

    Why one inline policy per `modelUri`, named after it (`policy_name`), rather than one policy
    whose document follows the setting: a rollback starts the previous task definition's tasks
    again, and their fetch container reads the previous object with this same role. One policy
    updated in place would grant the new object only, from before the service's deploy (the task
    definition depends on it), so the circuit breaker's or an alarm's rollback would start tasks
    whose fetch gets AccessDenied, and the rollback itself would fail.

    With a name per location, changing `modelUri` creates the new policy before the new task
    definition and the service's deploy, and the previous one leaves the program. The Pulumi
    engine deletes a resource the program no longer registers only at the end of an update
    that got there: after the service's update (which waits for steady state) succeeded. When
    that update fails (a rollback), the update stops and the previous policy stays, so the
    restored tasks can still fetch; the next successful `pulumi up` deletes it. Not a
    replacement (`replace_on_changes`, `delete_before_replace`): a replaced resource left
    pending deletion by a failed update is deleted first thing in the next update
    (pulumi/pulumi#9979), while the restored tasks may still need it. IAM is additive and both
    policies sit on the same task role, so during a deploy old and new tasks read their own
    object. Inline policies of a role may total 10,240 characters: two of these are far below.
    """
    return aws.iam.RolePolicy(
        policy_name(name, model),
        role=task_role.id,
        policy=partition.apply(lambda p: json.dumps(policy_document(p, model))),
        opts=child(parent, provider),
    )


def policy_name(name: str, model: ModelSettings) -> str:
    """The read policy's resource name: stable for one model location, new for another."""
    location = f"{model.bucket}/{model.key}"
    return f"{name}-model-read-{hashlib.sha256(location.encode()).hexdigest()[:8]}"


def policy_document(partition: str, model: ModelSettings) -> dict[str, object]:
    """The IAM policy granting read access to exactly `modelUri`: one object, or one prefix.

    A prefix needs s3:ListBucket (`aws s3 sync` lists it) on the bucket, limited by the
    `s3:prefix` condition key to keys under the prefix; s3:GetObject then covers its objects.
    """
    bucket_arn = f"arn:{partition}:s3:::{model.bucket}"
    if not model.is_prefix:
        statements: list[dict[str, object]] = [
            {
                "Sid": "ReadModelObject",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/{model.key}",
            }
        ]
    else:
        statements = [
            {
                "Sid": "ListModelPrefix",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": [f"{model.key}*"]}},
            },
            {
                "Sid": "ReadModelObjects",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/{model.key}*",
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def fetch_script(model: ModelSettings) -> str:
    """The shell script the fetch container runs: copy, check, and say why when it fails."""
    source = f"s3://{model.bucket}/{model.key}"
    target = model.container_path
    src, dst = shlex.quote(source), shlex.quote(target)
    tag = f"{FETCH_CONTAINER_NAME}:"
    verb = "sync" if model.is_prefix else "cp"
    lines = [
        "set -u",
        f"echo {shlex.quote(f'{tag} copying {source} to {target}')}",
        f"if ! aws s3 {verb} --only-show-errors {src} {dst}; then",
        "  echo "
        + shlex.quote(
            f"{tag} FAILED: could not copy {source} (no such object, or the task role may "
            "not read it); the app will not start"
        )
        + " >&2",
        "  exit 1",
        "fi",
    ]
    if model.sha256:
        lines += [
            f"actual=$(sha256sum {dst} | cut -d ' ' -f 1)",
            f'if [ "$actual" != {shlex.quote(model.sha256)} ]; then',
            "  echo "
            + shlex.quote(f"{tag} FAILED: sha256 of {source} is")
            + ' "$actual", '
            + shlex.quote(f"not modelSha256 {model.sha256}; the app will not start")
            + " >&2",
            "  exit 1",
            "fi",
            f"echo {shlex.quote(f'{tag} sha256 verified')}",
        ]
    lines.append(f"echo {shlex.quote(f'{tag} done')}")
    return "\n".join(lines)


def fetch_container(
    settings: Settings, *, log_group: pulumi.Input[str], region: str
) -> dict[str, object]:
    """The fetch container, in RegisterTaskDefinition's `containerDefinitions` form."""
    return {
        "name": FETCH_CONTAINER_NAME,
        "image": FETCH_IMAGE,
        # Runs once, before the app: a failure stops the app (see the module docstring), not
        # the task by itself.
        "essential": False,
        "entryPoint": ["sh", "-c"],
        "command": [fetch_script(settings.model)],
        # The CLI signs S3 requests for a region; the bucket's own region is followed from
        # there.
        "environment": [{"name": "AWS_REGION", "value": region}],
        "mountPoints": [
            {"sourceVolume": MODEL_VOLUME, "containerPath": MODEL_DIR, "readOnly": False}
        ],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": FETCH_LOG_STREAM_PREFIX,
            },
        },
    }
