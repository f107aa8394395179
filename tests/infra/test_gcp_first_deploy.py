"""The gcp target on a first `up` in a new project (issue 11, items 8-12)."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from infra import gcp as gcp_target
from infra.gcp.nodes import NODE_ROLE, node_account_id
from infra.settings import NODE_DISK_TYPES, Settings
from tests.harness import Rendered, Res, run_stack
from tests.infra import fakes

PROJECT = fakes.GCP_PROJECT
SERVICE_API = "gcp:projects/service:Service"
ACCOUNT = "gcp:serviceaccount/account:Account"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
REPOSITORY_IAM = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
CLUSTER = "gcp:container/cluster:Cluster"
NODE_POOL = "gcp:container/nodePool:NodePool"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
K8S_SERVICE = "kubernetes:core/v1:Service"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
# A regional node pool's zones, and the node a surge upgrade adds in each.
ZONES = 3
SURGE_PER_ZONE = 1
# The regional SSD_TOTAL_GB quota new projects commonly show (infra/settings/gcp.py, NODE_DISK_TYPES).
USUAL_SSD_QUOTA_GB = 500


def render(mode: str = "autopilot", **overrides: Any) -> Rendered:
    return run_stack("gcp", {"gcp:project": PROJECT, "gkeMode": mode, **overrides})


def apis(r: Rendered) -> dict[str, str]:
    return {a.inputs["service"]: a.urn for a in r.of_type(SERVICE_API)}


def minutes(timeout: str) -> int:
    assert timeout.endswith("m"), timeout
    return int(timeout[:-1])


def refusal(**overrides: Any) -> str:
    with pytest.raises(pulumi.RunError) as caught:
        render(**overrides)
    return str(caught.value)


# --- 8: every API the stack calls is enabled, and what calls it waits for it ------------------
@pytest.mark.parametrize("mode", ["autopilot", "standard"])
def test_each_resource_waits_for_the_apis_it_calls(mode: str):
    r = render(mode)
    on = apis(r)
    assert {"iam.googleapis.com", "cloudresourcemanager.googleapis.com"} <= set(on)
    assert set(on) == set(gcp_target.APIS)
    assert on["iam.googleapis.com"] in r.one(ACCOUNT).dependencies
    assert on["cloudresourcemanager.googleapis.com"] in r.one(PROJECT_IAM).dependencies
    assert on["artifactregistry.googleapis.com"] in r.one(REPOSITORY).dependencies
    cluster = r.one(CLUSTER)
    assert {on["container.googleapis.com"], on["compute.googleapis.com"]} <= set(
        cluster.dependencies
    )
    # The repository grant goes through the repository, which waits for its API.
    assert r.one(REPOSITORY).urn in r.one(REPOSITORY_IAM).dependencies


def test_no_lookup_calls_an_api_the_stack_has_not_enabled():
    r = render()
    # The default compute service account lookup (an IAM API call) is gone; what is left reads
    # the provider's own credentials.
    assert {c.token for c in r.calls} == {"gcp:organizations/getClientConfig:getClientConfig"}


# --- 9: the nodes' own service account ----------------------------------------------------------
def node_account(r: Rendered) -> Res:
    account = r.one(ACCOUNT)
    assert account.inputs["accountId"] == "echo-service-gcp-nodes"
    return account


@pytest.mark.parametrize("mode", ["autopilot", "standard"])
def test_nodes_run_as_an_account_with_the_node_role_and_read_access_to_this_repository(mode):
    r = render(mode)
    account = node_account(r)
    role = r.one(PROJECT_IAM)
    assert role.inputs == {
        "project": PROJECT,
        "role": NODE_ROLE,
        "member": account.outputs["member"],
    }
    assert NODE_ROLE == "roles/container.defaultNodeServiceAccount"
    pull = r.one(REPOSITORY_IAM)
    assert pull.inputs["member"] == account.outputs["member"]
    assert pull.inputs["repository"] == r.one(REPOSITORY).outputs["name"]
    # No project-wide registry role: the account reads this repository only.
    assert [g.inputs["role"] for g in r.of_type(PROJECT_IAM)] == [NODE_ROLE]
    # The first nodes start with their role in place.
    assert role.urn in r.one(CLUSTER).dependencies


def test_autopilot_nodes_use_the_account():
    r = render("autopilot")
    defaults = r.one(CLUSTER).inputs["clusterAutoscaling"]["autoProvisioningDefaults"]
    assert defaults == {
        "serviceAccount": node_account(r).outputs["email"],
        "oauthScopes": [CLOUD_PLATFORM],
    }


def test_standard_nodes_use_the_account():
    r = render("standard")
    config = r.one(NODE_POOL).inputs["nodeConfig"]
    assert config["serviceAccount"] == node_account(r).outputs["email"]


def test_the_account_id_fits_iams_limits_for_any_stack_name():
    for stack in ("gcp", "a-very-long-stack-name-for-production-eu"):
        account_id = node_account_id(Settings(stack=stack))
        assert 6 <= len(account_id) <= 30 and account_id[0].isalpha(), account_id
        assert account_id.endswith("-nodes")


# --- 10: the Service waits as long as the Deployment may ----------------------------------------
def test_the_service_outlasts_the_deployment_on_a_first_up():
    r = render("autopilot")
    deployment = r.one(DEPLOYMENT).custom_timeouts
    service = r.one(K8S_SERVICE).custom_timeouts
    assert minutes(service["create"]) > minutes(deployment["create"])
    assert minutes(service["update"]) >= minutes(deployment["update"])


# --- 11: the cluster's network -------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["autopilot", "standard"])
def test_without_network_keys_the_cluster_renders_as_before(mode: str):
    inputs = render(mode).one(CLUSTER).inputs
    assert "network" not in inputs and "subnetwork" not in inputs


@pytest.mark.parametrize("mode", ["autopilot", "standard"])
def test_the_cluster_joins_the_network_and_subnetwork_named(mode: str):
    shared = "projects/host-project/global/networks/shared"
    sub = "projects/host-project/regions/us-central1/subnetworks/gke"
    inputs = render(mode, network=shared, subnetwork=sub).one(CLUSTER).inputs
    assert (inputs["network"], inputs["subnetwork"]) == (shared, sub)
    inputs = render(mode, network="my-vpc").one(CLUSTER).inputs
    assert inputs["network"] == "my-vpc" and "subnetwork" not in inputs


def test_a_subnetwork_without_its_network_is_refused():
    message = refusal(subnetwork="gke")
    assert "echo-service:network = '': must be set when subnetwork is set" in message


def test_a_malformed_network_is_refused():
    assert "echo-service:network = 'My_VPC'" in refusal(network="My_VPC")


# --- 12: Standard node disks fit a usual regional SSD quota ----------------------------------
def test_standard_node_disks_default_to_what_fits_the_ssd_quota_at_max_node_count():
    r = render("standard")
    config = r.one(NODE_POOL).inputs["nodeConfig"]
    assert (config["diskSizeGb"], config["diskType"]) == (40, "pd-balanced")
    max_nodes = r.one(NODE_POOL).inputs["autoscaling"]["maxNodeCount"]
    disks = (max_nodes + SURGE_PER_ZONE) * ZONES
    assert disks * config["diskSizeGb"] <= USUAL_SSD_QUOTA_GB


def test_standard_node_disks_follow_the_settings():
    config = render("standard", nodeDiskSizeGb=100, nodeDiskType="pd-standard").one(NODE_POOL)
    assert config.inputs["nodeConfig"]["diskSizeGb"] == 100
    assert config.inputs["nodeConfig"]["diskType"] == "pd-standard"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"nodeDiskSizeGb": 5}, "echo-service:nodeDiskSizeGb = 5: must be a disk size from 10"),
        ({"nodeDiskType": "ssd"}, "echo-service:nodeDiskType = 'ssd': must be one of"),
    ],
)
def test_bad_node_disks_are_refused(overrides: dict[str, Any], expected: str):
    assert expected in refusal(gkeMode="standard", **overrides)
    assert "pd-balanced" in NODE_DISK_TYPES


def test_the_estimate_prices_the_node_disks_the_stack_sets():
    from infra.estimate import EstimateError, estimate, load_stack_settings

    env = {"GOOGLE_CLOUD_PROJECT": PROJECT}
    small = estimate(load_stack_settings("gcp", {"gkeMode": "standard"}, env=env))
    big = estimate(load_stack_settings("gcp", {"gkeMode": "standard", "nodeDiskSizeGb": 100}, env))
    disks = {i.name: i for i in small.items if i.name.startswith("Node boot disks")}
    assert list(disks) == ["Node boot disks (3 x 40 GB pd-balanced)"]
    assert big.monthly_usd - small.monthly_usd == pytest.approx(3 * 60 * 0.10)
    with pytest.raises(EstimateError, match="no price for node disk type pd-ssd"):
        estimate(load_stack_settings("gcp", {"gkeMode": "standard", "nodeDiskType": "pd-ssd"}, env))


def test_monitoring_and_a_dns_zone_enable_the_apis_they_call_and_wait_for_them():
    plain_stack = render()
    services = {r.inputs["service"] for r in plain_stack.of_type("gcp:projects/service:Service")}
    assert "monitoring.googleapis.com" not in services and "dns.googleapis.com" not in services
    r = render(monitoring=True, domain="model.example.com", dnsZone="example-com")
    apis = {res.inputs["service"]: res.urn for res in r.of_type("gcp:projects/service:Service")}
    record = r.one("gcp:dns/recordSet:RecordSet")
    assert apis["dns.googleapis.com"] in record.dependencies
    for policy in r.of_type("gcp:monitoring/alertPolicy:AlertPolicy"):
        assert apis["monitoring.googleapis.com"] in policy.dependencies
