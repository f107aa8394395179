"""The gcp target's registry: an Artifact Registry repository, the image pushed to it by digest,
and the nodes' read access to it."""

from __future__ import annotations

import pulumi
import pulumi_docker_build as docker_build
import pulumi_gcp as gcp

from infra.gcp.labels import dns_label
from infra.image import build_and_push
from infra.settings import Settings

# Artifact Registry's Docker login: the user name for an OAuth access token. Source: Artifact
# Registry docs, "Configure authentication to Artifact Registry for Docker" (access token).
AR_TOKEN_USERNAME = "oauth2accesstoken"
IMAGE_NAME = "echo-service"
# Cleanup policy: untagged versions (each push moves the stack's tag on) uploaded more than this
# long ago are deleted, but the newest KEEP_VERSIONS are always kept (KEEP wins over DELETE), so
# the image running and a few rollback targets survive.
CLEANUP_UNTAGGED_AFTER = "30d"
KEEP_VERSIONS = 10
# Read access to images; the nodes' service account needs it to pull. Source: Artifact Registry
# docs, "Access control with IAM" (roles/artifactregistry.reader).
AR_READER_ROLE = "roles/artifactregistry.reader"


def registry(
    parent: pulumi.ComponentResource,
    name: str,
    provider: gcp.Provider,
    settings: Settings,
    apis: dict[str, gcp.projects.Service],
    node_account: gcp.serviceaccount.Account,
) -> tuple[docker_build.Image, pulumi.Output[str], gcp.artifactregistry.RepositoryIamMember]:
    """The repository, the image pushed to it, and the nodes' pull access.

    Returns:
        The image resource, its reference by digest, and the nodes' pull permission (the
        Deployment waits for both).
    """
    g = settings.gcp
    on_gcp = pulumi.ResourceOptions(parent=parent, provider=provider)
    repository_id = dns_label(settings.name)
    repository = gcp.artifactregistry.Repository(
        f"{name}-images",
        repository_id=repository_id,
        format="DOCKER",
        location=g.region,
        description=f"Images of {settings.name}, built and pushed by Pulumi.",
        cleanup_policy_dry_run=False,
        cleanup_policies=[
            gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                id="delete-old-untagged",
                action="DELETE",
                condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                    tag_state="UNTAGGED", older_than=CLEANUP_UNTAGGED_AFTER
                ),
            ),
            gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                id="keep-newest",
                action="KEEP",
                most_recent_versions=(
                    gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=KEEP_VERSIONS
                    )
                ),
            ),
        ],
        # The id is a physical name: a replacement must delete the old one first.
        opts=pulumi.ResourceOptions.merge(
            on_gcp,
            pulumi.ResourceOptions(
                depends_on=[apis["artifactregistry.googleapis.com"]],
                delete_before_replace=True,
            ),
        ),
    )
    registry_host = f"{g.region}-docker.pkg.dev"
    repository_url = pulumi.Output.concat(
        registry_host, "/", g.project, "/", repository.repository_id, "/", IMAGE_NAME
    )
    # A short-lived token of the credentials Pulumi runs with: no `docker login` needed. The
    # lookup reads the provider's own credentials and calls no Google API, so it waits for none.
    client = gcp.organizations.get_client_config_output(
        opts=pulumi.InvokeOutputOptions(parent=parent, provider=provider)
    )
    image, image_ref = build_and_push(
        f"{name}-image",
        repository_url=repository_url,
        registry=docker_build.RegistryArgs(
            address=registry_host,
            username=AR_TOKEN_USERNAME,
            password=pulumi.Output.secret(client.access_token),
        ),
        platform=settings.platform,
        tag=settings.stack,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[repository]),
    )

    # The nodes' own service account (nodes.py) reads this repository only.
    pull_access = gcp.artifactregistry.RepositoryIamMember(
        f"{name}-nodes-pull",
        repository=repository.name,
        location=repository.location,
        role=AR_READER_ROLE,
        member=node_account.member,
        # Through the repository: an Artifact Registry call, after that API is on.
        opts=on_gcp,
    )
    return image, image_ref, pull_access
