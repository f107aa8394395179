"""The aws target's registry: an ECR repository, its lifecycle policy, and the image by digest."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from infra.aws.options import child, invoke
from infra.image import build_and_push
from infra.settings import Settings

# Images the ECR lifecycle policy keeps. Rollbacks (the circuit breaker's, or a user's) need the
# previous images still in the repository, so keep a handful rather than only the newest.
ECR_KEEP_IMAGES = 10


def image(
    parent: pulumi.ComponentResource, name: str, provider: aws.Provider, settings: Settings
) -> pulumi.Output[str]:
    """Creates the repository, pushes the image to it and returns its reference by digest."""
    repository = aws.ecr.Repository(
        f"{name}-repo",
        # `pulumi destroy` must succeed with images still in the repository.
        force_delete=True,
        image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
            scan_on_push=True
        ),
        # Each `pulumi up` pushes the stack's tag again; deployments use the digest anyway.
        image_tag_mutability="MUTABLE",
        opts=child(parent, provider),
    )
    aws.ecr.LifecyclePolicy(
        f"{name}-repo-lifecycle",
        repository=repository.name,
        policy=json.dumps(
            {
                "rules": [
                    {
                        "rulePriority": 1,
                        "description": f"Keep the newest {ECR_KEEP_IMAGES} images",
                        "selection": {
                            "tagStatus": "any",
                            "countType": "imageCountMoreThan",
                            "countNumber": ECR_KEEP_IMAGES,
                        },
                        "action": {"type": "expire"},
                    }
                ]
            }
        ),
        opts=child(parent, provider),
    )
    # A fresh token on every run (they last 12 hours): the user never runs `docker login`.
    token = aws.ecr.get_authorization_token_output(
        registry_id=repository.registry_id, opts=invoke(parent, provider)
    )
    _, ref = build_and_push(
        f"{name}-image",
        repository_url=repository.repository_url,
        registry=docker_build.RegistryArgs(
            address=repository.repository_url.apply(registry_host),
            username=token.user_name,
            password=pulumi.Output.secret(token.password),
        ),
        platform=settings.platform,
        tag=settings.stack,
        # Not an AWS resource: the docker-build provider, not the component's AWS provider.
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return ref


def registry_host(repository_url: str) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com/<name>` -> the registry host to log in to."""
    return repository_url.split("/", 1)[0]
