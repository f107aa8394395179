"""The gcp target: the endpoint on GKE behind a Service of type LoadBalancer.

`GkeService` enables the APIs it needs, builds the image into Artifact Registry, makes a GKE
cluster (Autopilot by default, Standard with its own node pool as an option) and runs the
endpoint on it: a namespace, a Deployment deployed by digest, a LoadBalancer Service, a
HorizontalPodAutoscaler and a PodDisruptionBudget. `pulumi up` finishes when the Deployment's
Pods are ready and the load balancer has an address.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_docker_build as docker_build
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.image import build_and_push
from infra.settings import HEALTH_CHECK_PATH, Settings

# APIs the stack uses. Compute Engine holds the cluster's VMs and the load balancer's forwarding
# rule and firewall rules; enabling the container API would turn it on anyway, but listing it
# lets the registry permission below wait for it.
APIS = (
    "compute.googleapis.com",
    "container.googleapis.com",
    "artifactregistry.googleapis.com",
)

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

# The workload.
SERVICE_PORT = 80  # the load balancer's port; the URL has no port in it
PORT_NAME = "http"
# A UID, not a name: kubelet can only check `runAsNonRoot` against a numeric user, and the image's
# USER may be a name. Any non-root UID works: the image's files are world-readable and the app
# writes only to /tmp.
RUN_AS_UID = 10001
# SIGTERM, then this long to finish requests in flight (the server stops within a few seconds).
TERMINATION_GRACE_SECONDS = 30
# Before SIGTERM, keep serving while the load balancer and kube-proxy stop sending new requests to
# a Pod that is going away (endpoint removal is asynchronous).
PRE_STOP_SLEEP_SECONDS = 5
TMP_SIZE_LIMIT = "64Mi"
# `pulumi up` waits for the rollout this long; a new image that never gets ready fails the update
# (the old Pods keep serving: maxUnavailable is 0). Creation allows for Autopilot provisioning the
# first nodes.
DEPLOYMENT_TIMEOUTS = pulumi.CustomTimeouts(create="15m", update="10m")
ZONE_TOPOLOGY_KEY = "topology.kubernetes.io/zone"  # a well-known node label
# The namespace admits only Pods meeting the "restricted" Pod Security Standard, which the
# Deployment does; a later change that weakens it is refused by the cluster, not shipped.
POD_SECURITY_LABELS = {"pod-security.kubernetes.io/enforce": "restricted"}

_GCP_LABEL_BAD = re.compile(r"[^a-z0-9_-]")
_K8S_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_DNS_BAD = re.compile(r"[^a-z0-9-]")


def gcp_label_value(value: str) -> str:
    """A Google Cloud label value: at most 63 lowercase letters, digits, `_` or `-`."""
    return _GCP_LABEL_BAD.sub("-", value.lower())[:63]


def k8s_label_value(value: str) -> str:
    """A Kubernetes label value: at most 63 of `[A-Za-z0-9_.-]`, alphanumeric at both ends."""
    return _K8S_LABEL_BAD.sub("-", value)[:63].strip("_.-")


def dns_label(value: str, max_length: int = 63) -> str:
    """A DNS-1123 label (namespace name, Artifact Registry repository id): `[a-z0-9-]`, starting
    with a letter and ending with a letter or digit."""
    name = _DNS_BAD.sub("-", value.lower())[:max_length].strip("-")
    return name if name[:1].isalpha() else f"x{name}"[:max_length].rstrip("-")


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


def load_balancer_url(status: k8s.core.v1.outputs.ServiceStatus | None) -> str:
    """`http://<address>` of a LoadBalancer Service, from its status (an IP or a host name)."""
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    if not ingress:
        # Pulumi waits for the address before it resolves the Service's status; an empty status
        # means the program ran without a cluster (a preview), so there is no URL yet.
        return ""
    address = ingress[0].ip or ingress[0].hostname or ""
    return f"http://{address}" if address else ""


@dataclass(frozen=True)
class _Workload:
    """What the Kubernetes objects are built from."""

    name: str
    image: pulumi.Input[str]
    labels: dict[str, str]
    selector: dict[str, str]
    settings: Settings


def _pod_template(w: _Workload) -> k8s.core.v1.PodTemplateSpecArgs:
    s = w.settings
    # Requests are what Autopilot schedules and bills by. Limits equal requests: the Pod is in the
    # Guaranteed QoS class (never the first evicted), Autopilot would set the same limits itself,
    # and both modes behave alike; the autoscaler adds replicas long before CPU would be throttled.
    resources = {"cpu": f"{s.cpu * 1000 // 1024}m", "memory": f"{s.memory}Mi"}
    health = k8s.core.v1.HTTPGetActionArgs(path=HEALTH_CHECK_PATH, port=PORT_NAME)
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=w.labels),
        spec=k8s.core.v1.PodSpecArgs(
            # The endpoint never calls the Kubernetes API; no token in the Pod to steal.
            automount_service_account_token=False,
            termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
            security_context=k8s.core.v1.PodSecurityContextArgs(
                run_as_non_root=True,
                run_as_user=RUN_AS_UID,
                run_as_group=RUN_AS_UID,
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            # Spread replicas over the region's zones so one zone's loss leaves the others
            # serving; "ScheduleAnyway" so a zone short of capacity delays nothing.
            topology_spread_constraints=[
                k8s.core.v1.TopologySpreadConstraintArgs(
                    max_skew=1,
                    topology_key=ZONE_TOPOLOGY_KEY,
                    when_unsatisfiable="ScheduleAnyway",
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=w.selector),
                )
            ],
            containers=[
                k8s.core.v1.ContainerArgs(
                    name=w.name,
                    image=w.image,
                    ports=[
                        k8s.core.v1.ContainerPortArgs(
                            name=PORT_NAME, container_port=s.container_port, protocol="TCP"
                        )
                    ],
                    env=[k8s.core.v1.EnvVarArgs(name="PORT", value=str(s.container_port))],
                    resources=k8s.core.v1.ResourceRequirementsArgs(
                        requests=resources, limits=resources
                    ),
                    # Up to a minute to start; until then the other probes wait.
                    startup_probe=k8s.core.v1.ProbeArgs(
                        http_get=health, period_seconds=3, timeout_seconds=2, failure_threshold=20
                    ),
                    # Out of the load balancer after 3 failed checks (15 s), back after one.
                    readiness_probe=k8s.core.v1.ProbeArgs(
                        http_get=health, period_seconds=5, timeout_seconds=2, failure_threshold=3
                    ),
                    # Restarted only when it stops answering for 30 s: a busy replica is slow,
                    # not dead.
                    liveness_probe=k8s.core.v1.ProbeArgs(
                        http_get=health, period_seconds=10, timeout_seconds=3, failure_threshold=3
                    ),
                    lifecycle=k8s.core.v1.LifecycleArgs(
                        pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                            sleep=k8s.core.v1.SleepActionArgs(seconds=PRE_STOP_SLEEP_SECONDS)
                        )
                    ),
                    security_context=k8s.core.v1.SecurityContextArgs(
                        run_as_non_root=True,
                        allow_privilege_escalation=False,
                        read_only_root_filesystem=True,
                        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                    ),
                    volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
                )
            ],
            # The only writable path: the root filesystem is read-only.
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name="tmp",
                    empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=TMP_SIZE_LIMIT),
                )
            ],
        ),
    )


class GkeService(pulumi.ComponentResource):
    """The endpoint on GKE: registry, image, cluster and the Kubernetes workload.

    Attributes:
        url: `http://<load balancer address>`.
        exports: The stack's exports: url, image, project, region, cluster, namespace, service
            and kubeconfig (a secret).
    """

    url: pulumi.Output[str]
    exports: dict[str, pulumi.Output]

    def __init__(
        self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """Creates every resource of the gcp target.

        Args:
            name: The component's name; children are named after it.
            settings: Validated settings with `settings.gcp` set.
            opts: Resource options for the component.
        """
        super().__init__("echo-service:gcp:GkeService", name, None, opts)
        if settings.gcp is None:
            raise ValueError("GkeService needs settings.gcp (cloud: gcp)")
        g = settings.gcp
        gcp_labels = {key: gcp_label_value(value) for key, value in settings.labels.items()}

        # One explicit provider for every Google resource: the project and region come from the
        # validated settings, never from whatever gcloud or the environment happens to hold, and
        # the labels land on every resource that takes labels (cluster, repository), once.
        provider = gcp.Provider(
            f"{name}-gcp",
            project=g.project,
            region=g.region,
            default_labels=gcp_labels,
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_gcp = pulumi.ResourceOptions(parent=self, provider=provider)

        # A destroy must never switch a project's APIs off: other workloads may use them.
        apis = {
            api: gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=on_gcp,
            )
            for api in APIS
        }

        # --- registry and image --------------------------------------------------------------
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
        # A short-lived token of the credentials Pulumi runs with: no `docker login` needed.
        client = gcp.organizations.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=[repository]),
        )

        # Nodes pull as the project's default compute service account. Projects in organizations
        # created since May 2024 no longer grant it Editor, so it may not read the registry at
        # all: grant it read access to this repository only.
        node_account = gcp.compute.get_default_service_account_output(
            opts=pulumi.InvokeOutputOptions(
                parent=self,
                provider=provider,
                depends_on=[apis["compute.googleapis.com"]],
            )
        )
        pull_access = gcp.artifactregistry.RepositoryIamMember(
            f"{name}-nodes-pull",
            repository=repository.name,
            location=repository.location,
            role=AR_READER_ROLE,
            member=node_account.member,
            opts=on_gcp,
        )

        # --- cluster -------------------------------------------------------------------------
        autopilot = g.gke_mode == "autopilot"
        cluster_opts = pulumi.ResourceOptions.merge(
            on_gcp,
            pulumi.ResourceOptions(
                depends_on=[apis["container.googleapis.com"], apis["compute.googleapis.com"]]
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
        # Auto-named (`<name>-<random>`): unique per stack, short enough for GKE's 40
        # characters, and a replacement can be created before the old cluster is deleted.
        if autopilot:
            # Autopilot always runs Workload Identity with the project's pool; it is not a
            # setting there. Nodes, their size, repair and upgrades are Google's.
            cluster = gcp.container.Cluster(
                name, enable_autopilot=True, opts=cluster_opts, **common
            )
            node_pool = None
        else:
            cluster = gcp.container.Cluster(
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
                cluster=cluster.name,
                location=g.region,
                # Per zone. Only the first size: afterwards the autoscaler owns the count, and a
                # changed nodeCount moves the autoscaling floor in place (a changed initial count
                # would recreate the pool).
                initial_node_count=g.node_count,
                autoscaling=gcp.container.NodePoolAutoscalingArgs(
                    min_node_count=g.node_count, max_node_count=g.max_node_count
                ),
                management=gcp.container.NodePoolManagementArgs(
                    auto_repair=True, auto_upgrade=True
                ),
                node_config=gcp.container.NodePoolNodeConfigArgs(
                    machine_type=g.machine_type,
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

        config = pulumi.Output.all(
            cluster.name, cluster.endpoint, cluster.master_auth.cluster_ca_certificate
        ).apply(lambda a: kubeconfig(a[0], a[1], a[2], g.project, g.region))
        secret_kubeconfig = pulumi.Output.secret(config)
        # The Kubernetes provider for this cluster only. It is replaced (and the workload with
        # it) only when the cluster is; a rotated endpoint or CA is an update. Server-side apply
        # is the provider's default. Resources of an unreachable cluster are not dropped from
        # the state silently (deleteUnreachable stays off): see README, troubleshooting.
        k8s_provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=secret_kubeconfig,
            cluster_identifier=cluster.id,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[node_pool] if node_pool is not None else []
            ),
        )
        on_k8s = pulumi.ResourceOptions(parent=self, provider=k8s_provider)

        # --- workload ------------------------------------------------------------------------
        selector = {
            "app.kubernetes.io/name": k8s_label_value(settings.project),
            "app.kubernetes.io/instance": k8s_label_value(settings.name),
        }
        labels = {
            **{key: k8s_label_value(value) for key, value in settings.labels.items()},
            **selector,
        }
        workload_name = settings.project  # one of each object in a namespace of its own
        namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=dns_label(settings.name), labels={**labels, **POD_SECURITY_LABELS}
            ),
            opts=on_k8s,
        )
        ns = namespace.metadata.name

        def meta(object_name: str = workload_name) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels)

        workload = _Workload(workload_name, image_ref, labels, selector, settings)
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # No `replicas`: the HorizontalPodAutoscaler owns the count. With it set, every
                # `pulumi up` that changes the Deployment would apply it and cut a scaled-out
                # service back to minReplicas in the middle of a rollout. Kubernetes starts the
                # Deployment with one Pod and the autoscaler raises it to minReplicas at once.
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                # Never fewer ready Pods than before: a new Pod must pass its readiness probe
                # before an old one goes, so a broken image leaves the old version serving.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_unavailable=0, max_surge=1
                    ),
                ),
                template=_pod_template(workload),
            ),
            opts=pulumi.ResourceOptions.merge(
                on_k8s,
                pulumi.ResourceOptions(
                    depends_on=[pull_access, image], custom_timeouts=DEPLOYMENT_TIMEOUTS
                ),
            ),
        )
        # Pulumi waits until the load balancer has an address before this resolves.
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="LoadBalancer",
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name=PORT_NAME, port=SERVICE_PORT, target_port=PORT_NAME, protocol="TCP"
                    )
                ],
            ),
            opts=on_k8s,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=meta(),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=deployment.metadata.name
                ),
                min_replicas=settings.min_replicas,
                max_replicas=settings.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization",
                                average_utilization=settings.target_cpu_percent,
                            ),
                        ),
                    )
                ],
            ),
            opts=on_k8s,
        )
        # At most one Pod evicted at a time by node upgrades and drains. maxUnavailable, not
        # minAvailable: with minReplicas 1 a "minAvailable: 1" budget would block every drain.
        # Pods that are not running may always be evicted, so a broken Pod never blocks one.
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=on_k8s,
        )

        self.url = service.status.apply(load_balancer_url)
        self.exports = {
            "url": self.url,
            "image": image_ref,
            "project": pulumi.Output.from_input(g.project),
            "region": pulumi.Output.from_input(g.region),
            "cluster": cluster.name,
            "namespace": ns,
            "service": service.metadata.name,
            "kubeconfig": secret_kubeconfig,
        }
        self.register_outputs(self.exports)
