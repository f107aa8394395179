"""Builds the endpoint's image from `app/` and pushes it to a cloud registry.

Every target deploys the image by digest (`repository@sha256:...`): a code change always changes
the reference and so always rolls out, and a tag moved by someone else changes nothing.
"""

from __future__ import annotations

import pulumi
import pulumi_docker_build as docker_build

# Paths relative to the project directory, where `pulumi up` runs the program: the same on every
# clone, so moving the checkout does not show up as a change to the image.
APP_CONTEXT = "app"
APP_DOCKERFILE = "app/Dockerfile"


def build_and_push(
    resource_name: str,
    *,
    repository_url: pulumi.Input[str],
    registry: docker_build.RegistryArgs,
    platform: str,
    tag: str,
    opts: pulumi.ResourceOptions,
) -> tuple[docker_build.Image, pulumi.Output[str]]:
    """Builds `app/` for one platform and pushes it with the given registry credentials.

    Args:
        resource_name: The Pulumi name of the image resource.
        repository_url: The registry repository, without tag (`host/path/name`).
        registry: Address and credentials for the push, obtained by the program itself so the
            user never runs `docker login`.
        platform: `linux/amd64` or `linux/arm64`; pinned so an ARM laptop builds what the
            cloud runs.
        tag: A human-readable tag pushed alongside (the stack name); nothing deploys by it.
        opts: Resource options (parent, depends_on). The image is retained on delete: the
            caller's repository must be deleted with the stack, images and all.

    Returns:
        The image resource and its reference by digest, `repository_url@sha256:...`.
    """
    image = docker_build.Image(
        resource_name,
        context=docker_build.BuildContextArgs(location=APP_CONTEXT),
        dockerfile=docker_build.DockerfileArgs(location=APP_DOCKERFILE),
        platforms=[docker_build.Platform(platform)],
        tags=[pulumi.Output.concat(repository_url, ":", tag)],
        push=True,
        registries=[registry],
        # On delete the provider removes the pushed digest from the registry with the
        # credentials saved in the state at the last `pulumi up`: an ECR token lasts 12 hours,
        # a Google access token one hour, so a later `pulumi destroy` fails here, with 401/403,
        # and leaves the repository behind. Every push goes to a repository the stack owns and
        # deletes with its images (ECR force_delete, Artifact Registry's repository delete), so
        # the image is only dropped from the state.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(retain_on_delete=True)),
    )
    ref = pulumi.Output.concat(repository_url, "@", image.digest)
    return image, ref
