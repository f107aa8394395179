"""The gcp target's cluster: the project APIs it needs, the GKE cluster (Autopilot, or Standard
with its own node pool), and the kubeconfig and Kubernetes provider that reach it."""

from __future__ import annotations

import json

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.gcp.monitoring import cluster_monitoring_config
from infra.settings import Settings

# APIs the stack uses. Compute Engine holds the cluster's VMs and the load balancer's forwarding
# rule and firewall rules; enabling the container API would turn it on anyway, but listing it
# lets what uses it wait for it. IAM creates the nodes' service account; Cloud Resource Manager
# reads and writes the project's IAM policy for its role. Each resource depends on the APIs it
# calls. (Service Usage itself, which enables the others, is on in every new project.)
#
# Propagation: the provider's google_project_service waits until the API is listed as enabled
# (terraform-provider-google, resourcemanager/resource_google_project.go,
# waitForServiceUsageEnabledServices), but it does not retry a call that an API's frontend still
# refuses with 403 SERVICE_DISABLED just after (transport/error_retry_predicates.go retries
# network errors, 429/5xx and a few 403 quota reasons, not accessNotConfigured). pulumi_gcp has
# no wait resource, so when that happens on a brand-new project the first `pulumi up` fails
# with "... has not been used in project ... or it is disabled" and a second `pulumi up`, a
# minute later, carries on from where it stopped (docs/troubleshooting.md).
APIS = (
    "compute.googleapis.com",
    "container.googleapis.com",
    "artifactregistry.googleapis.com",
    "iam.googleapis.com",
    "cloudresourcemanager.googleapis.com",
)

# Node pool (Standard mode). Access is governed by IAM, so the broad OAuth scope is the one Google
# recommends. Source: GKE docs, "Harden your cluster's security" (service account access scopes).
NODE_OAUTH_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Pods see the GKE metadata server (Workload Identity), never the node's own credentials.
NODE_WORKLOAD_METADATA_MODE = "GKE_METADATA"

# The kubeconfig's credentials: the exec plugin that replaced kubectl's removed `gcp`
# auth-provider (Kubernetes 1.26). `--use_application_default_credentials` makes it use the same
# Application Default Credentials the Google provider uses, as `gcloud container clusters
# get-credentials` writes it with container/use_application_default_credentials set.
AUTH_PLUGIN = "gke-gcloud-auth-plugin"
AUTH_PLUGIN_API_VERSION = "client.authentication.k8s.io/v1beta1"
AUTH_PLUGIN_ARGS = ("--use_application_default_credentials",)
AUTH_PLUGIN_INSTALL_HINT = (
    "Install gke-gcloud-auth-plugin for use with kubectl and Pulumi: "
    "`gcloud components install gke-gcloud-auth-plugin`, see "
    "https://cloud.google.com/kubernetes-engine/docs/how-to/cluster-access-for-kubectl#install_plugin"
)


# APIs only some keys need: Cloud Monitoring for `monitoring` (alert policies, uptime check,
# dashboard), Cloud DNS for `dnsZone` (the domain's record).
MONITORING_API = "monitoring.googleapis.com"
DNS_API = "dns.googleapis.com"


def enable_apis(
    parent: pulumi.ComponentResource,
    name: str,
    provider: gcp.Provider,
    extra: tuple[str, ...] = (),
) -> dict[str, gcp.projects.Service]:
    """The project services the stack needs, by API name (`extra`: those its keys add). Never
    switched off on destroy."""
    on_gcp = pulumi.ResourceOptions(parent=parent, provider=provider)
    # A destroy must never switch a project's APIs off: other workloads may use them.
    return {
        api: gcp.projects.Service(
            f"{name}-{api.split('.')[0]}",
            service=api,
            disable_on_destroy=False,
            disable_dependent_services=False,
            opts=on_gcp,
        )
        for api in (*APIS, *extra)
    }


def cluster(
    parent: pulumi.ComponentResource,
    name: str,
    provider: gcp.Provider,
    settings: Settings,
    apis: dict[str, gcp.projects.Service],
    gcp_labels: dict[str, str],
    node_account: gcp.serviceaccount.Account,
    node_role: gcp.projects.IAMMember,
) -> tuple[gcp.container.Cluster, gcp.container.NodePool | None]:
    """The regional GKE cluster and, in Standard mode, its managed node pool (else None).

    The nodes run as `node_account`; the cluster waits for its role, so the first nodes can
    write logs and metrics as soon as they boot.
    """
    g = settings.gcp
    on_gcp = pulumi.ResourceOptions(parent=parent, provider=provider)
    autopilot = g.gke_mode == "autopilot"
    cluster_opts = pulumi.ResourceOptions.merge(
        on_gcp,
        pulumi.ResourceOptions(
            depends_on=[
                apis["container.googleapis.com"],
                apis["compute.googleapis.com"],
                node_role,
            ]
        ),
    )
    common = {
        # Regional: the control plane and the nodes span the region's zones.
        "location": g.region,
        "release_channel": gcp.container.ClusterReleaseChannelArgs(channel=g.release_channel),
        # pulumi-gcp defaults deletion_protection to true, and `pulumi destroy` then fails
        # on the cluster after deleting everything else. Off unless asked for.
        "deletion_protection": settings.deletion_protection,
    }
    # The user's network, when set; else the provider's default, the `default` network (which
    # organizations often do not create: then these are how the cluster finds one).
    if g.network:
        common["network"] = g.network
    if g.subnetwork:
        common["subnetwork"] = g.subnetwork
    if settings.observability.monitoring:
        # Only with monitoring, so a cluster without it renders as before. Turning it on later
        # should update the cluster in place (GKE's UpdateCluster takes a desiredMonitoringConfig);
        # not verified against a real cluster or the provider's diff.
        common["monitoring_config"] = cluster_monitoring_config()
    # Auto-named (`<name>-<random>`): unique per stack, short enough for GKE's 40
    # characters, and a replacement can be created before the old cluster is deleted.
    if autopilot:
        # Autopilot always runs Workload Identity with the project's pool; it is not a
        # setting there. Nodes, their size, repair and upgrades are Google's; their identity
        # is the one setting of Autopilot's node defaults used here.
        gke = gcp.container.Cluster(
            name,
            enable_autopilot=True,
            cluster_autoscaling=gcp.container.ClusterClusterAutoscalingArgs(
                auto_provisioning_defaults=(
                    gcp.container.ClusterClusterAutoscalingAutoProvisioningDefaultsArgs(
                        service_account=node_account.email,
                        oauth_scopes=list(NODE_OAUTH_SCOPES),
                    )
                ),
            ),
            opts=cluster_opts,
            **common,
        )
        return gke, None

    gke = gcp.container.Cluster(
        name,
        # A cluster cannot be created without a node pool; the default one is removed at
        # once in favour of the managed pool below, which can change without replacing
        # the cluster.
        remove_default_node_pool=True,
        initial_node_count=1,
        workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
            workload_pool=f"{g.project}.svc.id.goog"
        ),
        opts=cluster_opts,
        **common,
    )
    node_pool = gcp.container.NodePool(
        f"{name}-nodes",
        cluster=gke.name,
        location=g.region,
        # Per zone. Only the first size: afterwards the autoscaler owns the count, and a
        # changed nodeCount moves the autoscaling floor in place (a changed initial count
        # would recreate the pool).
        initial_node_count=g.node_count,
        autoscaling=gcp.container.NodePoolAutoscalingArgs(
            min_node_count=g.node_count, max_node_count=g.max_node_count
        ),
        management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
        node_config=gcp.container.NodePoolNodeConfigArgs(
            machine_type=g.machine_type,
            service_account=node_account.email,
            # Sized to fit a usual regional SSD quota at maxNodeCount (settings/gcp.py).
            disk_size_gb=g.node_disk_size_gb,
            disk_type=g.node_disk_type,
            oauth_scopes=list(NODE_OAUTH_SCOPES),
            workload_metadata_config=(
                gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
                    mode=NODE_WORKLOAD_METADATA_MODE
                )
            ),
            # The provider's default labels do not reach the node VMs.
            resource_labels=gcp_labels,
        ),
        opts=pulumi.ResourceOptions.merge(
            on_gcp, pulumi.ResourceOptions(ignore_changes=["initialNodeCount"])
        ),
    )
    return gke, node_pool


def kubernetes_provider(
    parent: pulumi.ComponentResource,
    name: str,
    settings: Settings,
    gke: gcp.container.Cluster,
    node_pool: gcp.container.NodePool | None,
) -> tuple[k8s.Provider, pulumi.Output[str]]:
    """The Kubernetes provider for this cluster only, and the kubeconfig it uses (a secret)."""
    g = settings.gcp
    config = pulumi.Output.all(
        gke.name, gke.endpoint, gke.master_auth.cluster_ca_certificate
    ).apply(lambda a: kubeconfig(a[0], a[1], a[2], g.project, g.region))
    secret_kubeconfig = pulumi.Output.secret(config)
    # The Kubernetes provider for this cluster only. It is replaced (and the workload with
    # it) only when the cluster is; a rotated endpoint or CA is an update. Server-side apply
    # is the provider's default. Resources of an unreachable cluster are not dropped from
    # the state silently (deleteUnreachable stays off): see docs/troubleshooting.md.
    k8s_provider = k8s.Provider(
        f"{name}-k8s",
        kubeconfig=secret_kubeconfig,
        cluster_identifier=gke.id,
        opts=pulumi.ResourceOptions(
            parent=parent, depends_on=[node_pool] if node_pool is not None else []
        ),
    )
    return k8s_provider, secret_kubeconfig


def kubeconfig(
    cluster_name: str, endpoint: str, ca_certificate: str, project: str, location: str
) -> str:
    """A kubeconfig for a GKE cluster that authenticates with the gke-gcloud-auth-plugin.

    Args:
        cluster_name: The cluster's name.
        endpoint: The control plane's IP address or host name.
        ca_certificate: The cluster CA certificate, base64 encoded (as GKE returns it).
        project: The project holding the cluster.
        location: The cluster's region or zone.

    Returns:
        The kubeconfig as JSON (which is YAML), with one context named as gcloud names it.
    """
    context = f"gke_{project}_{location}_{cluster_name}"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": context,
                    "cluster": {
                        "server": f"https://{endpoint}",
                        "certificate-authority-data": ca_certificate,
                    },
                }
            ],
            "users": [
                {
                    "name": context,
                    "user": {
                        "exec": {
                            "apiVersion": AUTH_PLUGIN_API_VERSION,
                            "command": AUTH_PLUGIN,
                            "args": list(AUTH_PLUGIN_ARGS),
                            "installHint": AUTH_PLUGIN_INSTALL_HINT,
                            "provideClusterInfo": True,
                        }
                    },
                }
            ],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        },
        indent=2,
    )
