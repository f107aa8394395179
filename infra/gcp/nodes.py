"""The gcp target's node identity: a service account of the stack's own for the cluster's nodes.

Nodes otherwise run as the project's default compute service account. In organizations created
since May 2024 it gets no roles (the `iam.automaticIamGrantsForDefaultServiceAccounts`
constraint), and GKE then loses the nodes' and containers' logs and metrics; where it still has
Editor it has far more than nodes need. So the nodes get an account with the one role GKE
documents for them, and read access to this stack's repository only (registry.py).
Source: GKE docs, "Use least privilege IAM service accounts"
(roles/container.defaultNodeServiceAccount).
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.gcp.labels import dns_label
from infra.settings import Settings

# What a node needs: write logs and metrics, read its own monitoring settings.
NODE_ROLE = "roles/container.defaultNodeServiceAccount"
# Service account ids: 6-30 characters, a lowercase letter first, letters, digits and hyphens.
# Source: IAM API, projects.serviceAccounts.create (accountId).
ACCOUNT_ID_MAX = 30


def node_account_id(settings: Settings) -> str:
    """The nodes' account id, per stack: `<project>-<stack>` cut to fit, then `-nodes`."""
    stem = dns_label(settings.name, ACCOUNT_ID_MAX - len("-nodes"))
    return f"{stem}-nodes"


def node_service_account(
    parent: pulumi.ComponentResource,
    name: str,
    provider: gcp.Provider,
    settings: Settings,
    apis: dict[str, gcp.projects.Service],
) -> tuple[gcp.serviceaccount.Account, gcp.projects.IAMMember]:
    """The nodes' service account and its project role (nodes should start after both)."""
    on_gcp = pulumi.ResourceOptions(parent=parent, provider=provider)
    account = gcp.serviceaccount.Account(
        f"{name}-nodes",
        account_id=node_account_id(settings),
        display_name=f"GKE nodes of {settings.name}",
        description="Pulumi: the GKE nodes of this stack (logs, metrics, image pulls).",
        # Creating an account is an IAM API call.
        opts=pulumi.ResourceOptions.merge(
            on_gcp, pulumi.ResourceOptions(depends_on=[apis["iam.googleapis.com"]])
        ),
    )
    role = gcp.projects.IAMMember(
        f"{name}-nodes-role",
        project=settings.gcp.project,
        role=NODE_ROLE,
        member=account.member,
        # A project's IAM policy is read and written through the Resource Manager API.
        opts=pulumi.ResourceOptions.merge(
            on_gcp,
            pulumi.ResourceOptions(depends_on=[apis["cloudresourcemanager.googleapis.com"]]),
        ),
    )
    return account, role
