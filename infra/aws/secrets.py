"""The aws target's API keys: a Secrets Manager secret the task reads at start as API_KEYS.

The keys never appear in the task definition: the container's `secrets` names the secret (and the
version, so new keys roll out as a new task definition revision), ECS's agent reads it with the
execution role at task start, and hands the value to the container as an environment variable.
The execution role may read exactly this secret and nothing else.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from infra.aws.options import child
from infra.settings import Settings

# The variable the app reads its keys from (comma-separated).
API_KEYS_ENV = "API_KEYS"
# Secrets Manager otherwise keeps a deleted secret 7-30 days; `pulumi destroy` should leave
# nothing behind (and nothing billing), so the secret is deleted at once.
RECOVERY_WINDOW_DAYS = 0


def api_keys_secret(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    settings: Settings,
    execution_role: aws.iam.Role,
) -> tuple[pulumi.Output[str], aws.iam.RolePolicy]:
    """The secret holding the keys, its version and the execution role's permission to read it.

    Returns:
        The container definition's `valueFrom` (the secret's ARN with the version id) and the
        role policy the task definition must wait for.
    """
    secret = aws.secretsmanager.Secret(
        f"{name}-api-keys",
        description="echo-service: API keys the endpoint accepts (API_KEYS, comma-separated)",
        recovery_window_in_days=RECOVERY_WINDOW_DAYS,
        opts=child(parent, provider),
    )
    version = aws.secretsmanager.SecretVersion(
        f"{name}-api-keys",
        secret_id=secret.id,
        # A secret Output from the stack's config: stored encrypted in the state, never shown.
        secret_string=settings.edge.api_keys,
        opts=child(parent, provider),
    )
    policy = aws.iam.RolePolicy(
        f"{name}-read-api-keys",
        role=execution_role.id,
        policy=secret.arn.apply(
            lambda arn: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "secretsmanager:GetSecretValue",
                            "Resource": arn,
                        }
                    ],
                }
            )
        ),
        opts=child(parent, provider),
    )
    # arn:...:secret:NAME-AbCdEf:json-key:version-stage:version-id (ECS developer guide, "Pass
    # Secrets Manager secrets through Amazon ECS environment variables"). The whole secret
    # string, pinned to this version: new keys change the task definition, so ECS rolls the
    # tasks over to them; with the ARN alone, running tasks would keep the old keys.
    value_from = pulumi.Output.concat(secret.arn, ":::", version.version_id)
    return value_from, policy
