"""The gcp target: the endpoint on GKE behind a Service of type LoadBalancer.

`GkeService` enables the APIs it needs, builds the image into Artifact Registry, makes a GKE
cluster (Autopilot by default, Standard with its own node pool as an option) and runs the
endpoint on it: a namespace, a Deployment deployed by digest, a LoadBalancer Service, a
HorizontalPodAutoscaler and a PodDisruptionBudget. `pulumi up` finishes when the Deployment's
Pods are ready and the load balancer has an address.

One concern a module: `service` (the component), `registry` (Artifact Registry, the image, the
nodes' pull access), `cluster` (APIs, cluster, node pool, kubeconfig, Kubernetes provider),
`workload` (the Kubernetes objects), `labels` (names and label values), and `edge` (with
`domain`: the Ingress's HTTPS load balancer, its static address, certificate and Cloud Armor).
Each helper takes the component as `parent`, so every resource's URN is what it was when this was
one module.
"""

from infra.gcp.cluster import (
    APIS,
    AUTH_PLUGIN,
    AUTH_PLUGIN_API_VERSION,
    AUTH_PLUGIN_ARGS,
    AUTH_PLUGIN_INSTALL_HINT,
    NODE_OAUTH_SCOPES,
    NODE_WORKLOAD_METADATA_MODE,
    kubeconfig,
)
from infra.gcp.labels import dns_label, gcp_label_value, k8s_label_value
from infra.gcp.registry import (
    AR_READER_ROLE,
    AR_TOKEN_USERNAME,
    CLEANUP_UNTAGGED_AFTER,
    IMAGE_NAME,
    KEEP_VERSIONS,
)
from infra.gcp.service import GkeService
from infra.gcp.workload import (
    DEPLOYMENT_TIMEOUTS,
    POD_SECURITY_LABELS,
    PORT_NAME,
    PRE_STOP_SLEEP_SECONDS,
    RUN_AS_UID,
    SERVICE_PORT,
    TERMINATION_GRACE_SECONDS,
    TMP_SIZE_LIMIT,
    ZONE_TOPOLOGY_KEY,
    load_balancer_url,
)

__all__ = [
    "APIS",
    "AR_READER_ROLE",
    "AR_TOKEN_USERNAME",
    "AUTH_PLUGIN",
    "AUTH_PLUGIN_API_VERSION",
    "AUTH_PLUGIN_ARGS",
    "AUTH_PLUGIN_INSTALL_HINT",
    "CLEANUP_UNTAGGED_AFTER",
    "DEPLOYMENT_TIMEOUTS",
    "IMAGE_NAME",
    "KEEP_VERSIONS",
    "NODE_OAUTH_SCOPES",
    "NODE_WORKLOAD_METADATA_MODE",
    "POD_SECURITY_LABELS",
    "PORT_NAME",
    "PRE_STOP_SLEEP_SECONDS",
    "RUN_AS_UID",
    "SERVICE_PORT",
    "TERMINATION_GRACE_SECONDS",
    "TMP_SIZE_LIMIT",
    "ZONE_TOPOLOGY_KEY",
    "GkeService",
    "dns_label",
    "gcp_label_value",
    "k8s_label_value",
    "kubeconfig",
    "load_balancer_url",
]
