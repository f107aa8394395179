"""The gcp stack under mocks: what `pulumi up` would create on Google Cloud, in both GKE modes.

Every test runs the real program with the shipped Pulumi.gcp.yaml (plus a project, which the
stack file leaves to the user) and asserts on the inputs the engine received. The Kubernetes
objects are rendered back to manifests and validated, strictly, against the Kubernetes OpenAPI
schemas of `kubernetes-validate`.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import kubernetes_validate
import pulumi
import pytest
from pulumi.runtime import rpc

from infra import gcp as gcp_target
from tests.harness import Rendered, Res, plain, run_stack
from tests.infra import fakes

PROJECT = fakes.GCP_PROJECT
REGION = fakes.GCP_REGION
MODES = ("autopilot", "standard")
LABELS = {"project": "echo-service", "stack": "gcp", "managed-by": "pulumi"}
SELECTOR = {
    "app.kubernetes.io/name": "echo-service",
    "app.kubernetes.io/instance": "echo-service-gcp",
}
# The oldest Kubernetes minor a GKE release channel may still run the workload on, and the
# newest the installed schemas know.
K8S_VERSIONS = ("1.33.0", kubernetes_validate.utils.latest_version())

COMPONENT = "echo-service:gcp:GkeService"
GCP_PROVIDER = "pulumi:providers:gcp"
K8S_PROVIDER = "pulumi:providers:kubernetes"
SERVICE_API = "gcp:projects/service:Service"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
REPOSITORY_IAM = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
IMAGE = "docker-build:index:Image"
NAMESPACE = "kubernetes:core/v1:Namespace"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
K8S_OBJECTS = (NAMESPACE, DEPLOYMENT, SERVICE, HPA, PDB)


def render(mode: str = "autopilot", **overrides: Any) -> Rendered:
    return run_stack("gcp", {"gcp:project": PROJECT, "gkeMode": mode, **overrides})


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@functools.cache
def _default_render(mode: str) -> Rendered:
    return render(mode)


@pytest.fixture
def stack(mode: str) -> Rendered:
    """The shipped stack in one mode. Most tests only read it, so it is rendered once per mode
    (inside the first test that asks, under that test's hermetic fixtures) and each test gets its
    own copy."""
    return copy.deepcopy(_default_render(mode))


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def reveal(value: Any) -> Any:
    """The value inside a secret input, as the engine would decrypt it."""
    return value["value"] if is_secret(value) else value


def manifest(res: Res) -> dict[str, Any]:
    """The object pulumi-kubernetes sends the API server: its inputs, already in camelCase."""
    return plain(
        {k: v for k, v in res.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec")}
    )


def container(stack: Rendered) -> dict[str, Any]:
    (only,) = stack.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"]
    return plain(only)


def provider_urn(res: Res) -> str:
    return res.provider.rsplit("::", 1)[0]


# --- the component ----------------------------------------------------------------------------


def test_one_component_holds_every_resource(stack: Rendered):
    component = stack.one(COMPONENT)
    children = [r for r in stack.resources if r is not component]
    assert children
    for res in children:
        assert res.parent == component.urn, f"{res.type} {res.name} is not a child of the component"


def test_the_stack_exports_what_a_user_needs_next(stack: Rendered):
    out = stack.outputs
    assert set(out) == {
        "url",
        "image",
        "project",
        "region",
        "cluster",
        "namespace",
        "service",
        "kubeconfig",
    }
    assert out["url"] == "http://34.120.0.10"
    assert out["project"] == PROJECT and out["region"] == REGION
    assert out["cluster"] == stack.one(CLUSTER).outputs["name"]
    assert out["namespace"] == stack.one(NAMESPACE).inputs["metadata"]["name"]
    assert out["service"] == stack.one(SERVICE).inputs["metadata"]["name"]
    assert stack.secret_outputs == {"kubeconfig"}


def test_a_missing_project_is_refused_before_anything_is_created():
    with pytest.raises(pulumi.RunError) as refused:
        run_stack("gcp")
    assert "gcp:project" in str(refused.value)
    assert "pulumi config set gcp:project" in str(refused.value)


# --- Google Cloud: provider, APIs, labels -------------------------------------------------------


def test_every_google_resource_uses_one_explicit_provider_with_the_stack_project_and_labels(
    stack: Rendered,
):
    provider = stack.one(GCP_PROVIDER)
    assert provider.inputs["project"] == PROJECT
    assert provider.inputs["region"] == REGION
    # Labels once, on the provider: they reach every Google resource that takes labels.
    assert json.loads(provider.inputs["defaultLabels"]) == LABELS
    google = [r for r in stack.resources if r.type.startswith("gcp:")]
    assert len(google) >= 6
    for res in google:
        assert provider_urn(res) == provider.urn, f"{res.type} {res.name} uses another provider"


def test_the_apis_are_enabled_and_a_destroy_never_disables_them(stack: Rendered):
    apis = stack.of_type(SERVICE_API)
    assert sorted(a.inputs["service"] for a in apis) == sorted(gcp_target.APIS)
    assert {"container.googleapis.com", "artifactregistry.googleapis.com"} <= {
        a.inputs["service"] for a in apis
    }
    for api in apis:
        assert api.inputs["disableOnDestroy"] is False
        assert api.inputs["disableDependentServices"] is False
    by_service = {a.inputs["service"]: a.urn for a in apis}
    assert by_service["artifactregistry.googleapis.com"] in stack.one(REPOSITORY).dependencies
    assert by_service["container.googleapis.com"] in stack.one(CLUSTER).dependencies
    assert by_service["compute.googleapis.com"] in stack.one(CLUSTER).dependencies


def test_google_label_values_are_made_valid():
    assert gcp_target.gcp_label_value("Team.Prod_1") == "team-prod_1"
    assert len(gcp_target.gcp_label_value("x" * 100)) == 63


# --- registry and image -----------------------------------------------------------------------


def test_the_registry_is_a_docker_repository_in_the_region_that_cleans_up_old_images(
    stack: Rendered,
):
    repo = stack.one(REPOSITORY)
    assert repo.inputs["format"] == "DOCKER"
    assert repo.inputs["location"] == REGION
    assert repo.inputs["repositoryId"] == "echo-service-gcp"
    assert repo.inputs["cleanupPolicyDryRun"] is False
    policies = {p["id"]: plain(p) for p in repo.inputs["cleanupPolicies"]}
    assert policies["keep-newest"]["action"] == "KEEP"
    assert policies["keep-newest"]["mostRecentVersions"] == {"keepCount": gcp_target.KEEP_VERSIONS}
    assert policies["delete-old-untagged"]["action"] == "DELETE"
    assert policies["delete-old-untagged"]["condition"] == {
        "tagState": "UNTAGGED",
        "olderThan": "30d",
    }
    # A fixed repository id cannot exist twice: a replacement deletes the old one first.
    assert repo.delete_before_replace is True


def test_the_image_is_built_for_amd64_pushed_with_a_token_pulumi_obtains_and_deployed_by_digest(
    stack: Rendered,
):
    image = stack.one(IMAGE)
    assert image.inputs["platforms"] == ["linux/amd64"]
    assert image.inputs["push"] is True
    url = f"{REGION}-docker.pkg.dev/{PROJECT}/echo-service-gcp/echo-service"
    assert image.inputs["tags"] == [f"{url}:gcp"]
    registries = image.inputs["registries"]
    assert is_secret(registries), "the registry password must be a secret"
    assert reveal(registries) == [
        {
            "address": f"{REGION}-docker.pkg.dev",
            "username": "oauth2accesstoken",
            "password": fakes.GCP_ACCESS_TOKEN,
        }
    ]
    assert "gcp:organizations/getClientConfig:getClientConfig" in [c.token for c in stack.calls]
    assert stack.one(REPOSITORY).urn in image.dependencies
    assert stack.outputs["image"] == f"{url}@{fakes.FAKE_DIGEST}"
    assert container(stack)["image"] == stack.outputs["image"]


def test_destroy_leaves_the_image_to_the_repository_it_deletes():
    # docker-build deletes a pushed digest with the access token saved at the last `pulumi up`,
    # which expires after an hour: a later destroy would fail on the image and keep the
    # repository. The image is retained instead; deleting the repository deletes its images.
    stack = render()
    assert stack.one(IMAGE).retain_on_delete is True
    assert stack.one(REPOSITORY).urn in stack.one(IMAGE).dependencies
    assert [x.type for x in stack.resources if x.retain_on_delete] == [IMAGE]


def test_the_platform_setting_cannot_put_an_arm_image_on_gke():
    with pytest.raises(pulumi.RunError) as refused:
        render(platform="linux/arm64")
    assert "echo-service:platform" in str(refused.value)


def test_the_nodes_may_pull_from_the_repository(stack: Rendered):
    grant = stack.one(REPOSITORY_IAM)
    assert grant.inputs["role"] == "roles/artifactregistry.reader"
    # The nodes' own service account (issue 11), not the project's default compute one.
    node_account = stack.one("gcp:serviceaccount/account:Account")
    assert grant.inputs["member"] == node_account.outputs["member"]
    assert grant.inputs["repository"] == stack.one(REPOSITORY).outputs["name"]
    assert grant.inputs["location"] == REGION
    assert grant.urn in stack.one(DEPLOYMENT).dependencies


# --- cluster ----------------------------------------------------------------------------------


def test_autopilot_is_the_default_and_has_no_node_pool_to_manage():
    stack = run_stack("gcp", {"gcp:project": PROJECT})
    cluster = stack.one(CLUSTER)
    assert cluster.inputs["enableAutopilot"] is True
    assert cluster.inputs["location"] == REGION
    assert cluster.inputs["releaseChannel"] == {"channel": "REGULAR"}
    # Autopilot runs Workload Identity on the project's pool by itself; nodes are Google's.
    for absent in (
        "workloadIdentityConfig",
        "removeDefaultNodePool",
        "initialNodeCount",
        "nodeConfig",
    ):
        assert absent not in cluster.inputs
    assert stack.of_type(NODE_POOL) == []


def test_standard_mode_has_a_managed_autoscaling_node_pool_with_workload_identity():
    stack = render("standard")
    cluster = stack.one(CLUSTER)
    assert "enableAutopilot" not in cluster.inputs
    assert cluster.inputs["removeDefaultNodePool"] is True
    assert cluster.inputs["initialNodeCount"] == 1
    assert cluster.inputs["workloadIdentityConfig"] == {"workloadPool": f"{PROJECT}.svc.id.goog"}
    assert cluster.inputs["releaseChannel"] == {"channel": "REGULAR"}

    pool = stack.one(NODE_POOL)
    assert pool.inputs["cluster"] == cluster.outputs["name"]
    assert pool.inputs["location"] == REGION
    assert pool.inputs["initialNodeCount"] == 1
    assert plain(pool.inputs["autoscaling"]) == {"minNodeCount": 1, "maxNodeCount": 3}
    assert pool.inputs["management"] == {"autoRepair": True, "autoUpgrade": True}
    config = pool.inputs["nodeConfig"]
    assert config["machineType"] == "e2-standard-2"
    assert config["oauthScopes"] == ["https://www.googleapis.com/auth/cloud-platform"]
    assert config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert config["resourceLabels"] == LABELS
    # The autoscaler owns the count after creation; a new nodeCount must not recreate the pool.
    assert pool.ignore_changes == ["initialNodeCount"]
    assert pool.urn in stack.one(K8S_PROVIDER).dependencies


def test_standard_mode_takes_machine_type_and_node_counts_from_the_settings():
    pool = render("standard", machineType="n2-standard-4", nodeCount=2, maxNodeCount=5).one(
        NODE_POOL
    )
    assert pool.inputs["nodeConfig"]["machineType"] == "n2-standard-4"
    assert pool.inputs["initialNodeCount"] == 2
    assert plain(pool.inputs["autoscaling"]) == {"minNodeCount": 2, "maxNodeCount": 5}


def test_the_release_channel_comes_from_the_settings(mode: str):
    assert render(mode, releaseChannel="STABLE").one(CLUSTER).inputs["releaseChannel"] == {
        "channel": "STABLE"
    }


@pytest.mark.parametrize(
    ("overrides", "protected"), [({}, False), ({"deletionProtection": True}, True)]
)
def test_deletion_protection_is_off_unless_asked_for(mode: str, overrides: dict, protected: bool):
    assert render(mode, **overrides).one(CLUSTER).inputs["deletionProtection"] is protected


def test_google_resources_are_auto_named_or_named_per_stack(stack: Rendered):
    # Auto-named: unique per stack and replaceable; GKE allows 40 characters.
    assert "name" not in stack.one(CLUSTER).inputs
    assert len(stack.outputs["cluster"]) <= 40
    for pool in stack.of_type(NODE_POOL):
        assert "name" not in pool.inputs


# --- the Kubernetes provider ------------------------------------------------------------------


def test_the_kubernetes_provider_authenticates_with_the_gke_exec_plugin(stack: Rendered):
    provider = stack.one(K8S_PROVIDER)
    assert is_secret(provider.inputs["kubeconfig"])
    config = json.loads(reveal(provider.inputs["kubeconfig"]))
    assert config == json.loads(stack.outputs["kubeconfig"])
    (cluster,) = config["clusters"]
    assert cluster["cluster"]["server"] == f"https://{fakes.GCP_CLUSTER_ENDPOINT}"
    assert cluster["cluster"]["certificate-authority-data"] == fakes.GCP_CLUSTER_CA
    (user,) = config["users"]
    assert "auth-provider" not in user["user"], "the gcp auth-provider was removed from kubectl"
    assert user["user"]["exec"] == {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": "gke-gcloud-auth-plugin",
        "args": ["--use_application_default_credentials"],
        "installHint": gcp_target.AUTH_PLUGIN_INSTALL_HINT,
        "provideClusterInfo": True,
    }
    context = f"gke_{PROJECT}_{REGION}_{stack.outputs['cluster']}"
    assert config["current-context"] == context
    assert config["contexts"] == [
        {"name": context, "context": {"cluster": context, "user": context}}
    ]
    # Replaced only with the cluster, not when its endpoint or CA changes.
    assert provider.inputs["clusterIdentifier"] == stack.one(CLUSTER).outputs["id"]
    assert "deleteUnreachable" not in provider.inputs


def test_every_kubernetes_object_uses_the_clusters_provider(stack: Rendered):
    provider = stack.one(K8S_PROVIDER)
    # The engine deletes what uses a provider before what the provider depends on: on destroy
    # the LoadBalancer Service (and its cloud load balancer) goes before the cluster.
    assert stack.one(CLUSTER).urn in provider.dependencies
    for kind in K8S_OBJECTS:
        res = stack.one(kind)
        assert provider_urn(res) == provider.urn, f"{kind} uses another provider"


# --- the Kubernetes objects -------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_kubernetes_object_is_valid_for_kubernetes(stack: Rendered, version: str):
    for kind in K8S_OBJECTS:
        kubernetes_validate.validate(manifest(stack.one(kind)), version, strict=True)


def test_the_schema_check_would_catch_a_misspelt_field(stack: Rendered):
    broken = manifest(stack.one(DEPLOYMENT))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSecond"] = 5
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def test_every_kubernetes_object_is_labelled_and_in_the_stacks_namespace(stack: Rendered):
    namespace = stack.one(NAMESPACE).inputs["metadata"]
    assert namespace["name"] == "echo-service-gcp"
    # The cluster itself refuses Pods that break the restricted Pod Security Standard.
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for kind in K8S_OBJECTS:
        metadata = stack.one(kind).inputs["metadata"]
        assert LABELS.items() <= metadata["labels"].items(), kind
        assert SELECTOR.items() <= metadata["labels"].items(), kind
        if kind != NAMESPACE:
            assert metadata["namespace"] == "echo-service-gcp", kind
            assert metadata["name"] == "echo-service", kind
    template_labels = stack.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"]["labels"]
    assert LABELS.items() <= template_labels.items()


def test_kubernetes_names_and_label_values_are_made_valid():
    assert gcp_target.k8s_label_value("Prod.Team_") == "Prod.Team"
    assert gcp_target.k8s_label_value("a/b c") == "a-b-c"
    assert len(gcp_target.k8s_label_value("x" * 80)) == 63
    assert gcp_target.dns_label("echo-service-My_Stack.1") == "echo-service-my-stack-1"
    assert gcp_target.dns_label("9lives") == "x9lives"
    assert len(gcp_target.dns_label("a" * 80)) == 63


def test_the_deployment_rolls_out_the_image_safely_and_leaves_the_count_to_the_autoscaler(
    stack: Rendered,
):
    deployment = stack.one(DEPLOYMENT)
    spec = plain(deployment.inputs["spec"])
    assert "replicas" not in spec, "the HorizontalPodAutoscaler owns the replica count"
    assert spec["selector"] == {"matchLabels": SELECTOR}
    assert SELECTOR.items() <= spec["template"]["metadata"]["labels"].items()
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    # `pulumi up` waits for the rollout, and gives up on an image that never gets ready.
    assert deployment.custom_timeouts == {"create": "15m", "update": "10m"}
    assert stack.one(IMAGE).urn in deployment.dependencies


def test_the_pod_serves_the_port_with_readiness_and_liveness_probes(stack: Rendered):
    c = container(stack)
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["env"] == [{"name": "PORT", "value": "8080"}]
    # Startup and readiness wait for the model; liveness only asks whether the process answers.
    paths = {"startupProbe": "/readyz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    for probe, path in paths.items():
        assert c[probe]["httpGet"] == {"path": path, "port": "http"}, probe
        assert c[probe]["timeoutSeconds"] < c[probe]["periodSeconds"], probe
    # A replica leaves the load balancer well before it would be restarted.
    ready, live = c["readinessProbe"], c["livenessProbe"]
    assert (
        ready["periodSeconds"] * ready["failureThreshold"]
        < live["periodSeconds"] * live["failureThreshold"]
    )
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 60
    assert c["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}


def test_the_pod_runs_locked_down_with_only_tmp_writable(stack: Rendered):
    pod = plain(stack.one(DEPLOYMENT).inputs["spec"]["template"]["spec"])
    c = container(stack)
    assert c["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["automountServiceAccountToken"] is False
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": SELECTOR},
        }
    ]


@pytest.mark.parametrize(
    ("cpu", "memory", "cpu_request", "memory_request"),
    [(256, 512, "250m", "512Mi"), (1024, 2048, "1000m", "2048Mi"), (512, 1536, "500m", "1536Mi")],
)
def test_requests_and_limits_follow_the_settings(
    mode: str, cpu: int, memory: int, cpu_request: str, memory_request: str
):
    c = container(render(mode, cpu=cpu, memory=memory))
    expected = {"cpu": cpu_request, "memory": memory_request}
    assert c["resources"] == {"requests": expected, "limits": expected}


def test_the_service_is_a_load_balancer_on_port_80_to_the_containers_port(stack: Rendered):
    spec = plain(stack.one(SERVICE).inputs["spec"])
    assert spec["type"] == "LoadBalancer"
    assert spec["selector"] == SELECTOR
    assert spec["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    assert any(p["name"] == spec["ports"][0]["targetPort"] for p in container(stack)["ports"])


@pytest.mark.parametrize(
    ("ingress", "url"),
    [
        ({"ip": "35.1.2.3"}, "http://35.1.2.3"),
        ({"hostname": "lb.example.com"}, "http://lb.example.com"),
    ],
)
def test_the_url_is_the_load_balancers_address_in_either_form(
    monkeypatch: pytest.MonkeyPatch, ingress: dict, url: str
):
    monkeypatch.setattr(fakes, "GCP_LB_INGRESS", ingress)
    assert render().outputs["url"] == url


def test_the_autoscaler_scales_the_deployment_on_cpu_within_the_replica_bounds(mode: str):
    stack = render(mode, minReplicas=3, maxReplicas=7, targetCpuPercent=50)
    spec = plain(stack.one(HPA).inputs["spec"])
    assert stack.one(HPA).inputs["apiVersion"] == "autoscaling/v2"
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "echo-service",
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 7)
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50},
            },
        }
    ]


def test_the_disruption_budget_lets_drains_proceed_one_pod_at_a_time(stack: Rendered):
    pdb = stack.one(PDB)
    assert pdb.inputs["apiVersion"] == "policy/v1"
    spec = plain(pdb.inputs["spec"])
    # maxUnavailable, never minAvailable: with one replica that would block every node drain.
    assert spec == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": SELECTOR},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }


def test_the_url_is_empty_until_the_load_balancer_has_an_address():
    assert gcp_target.load_balancer_url(None) == ""
