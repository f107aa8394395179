"""Fake outputs per resource type and fake invoke results, as the clouds would answer.

Keys are Pulumi type tokens; each function gets the resource's name and inputs (camelCase, as
sent to the engine) and returns the outputs the provider would add (camelCase too). Types not
listed echo their inputs. Invokes the program makes must be listed in FAKE_CALLS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Outputs = Callable[[str, dict[str, Any]], dict[str, Any]]
CallResult = Callable[[dict[str, Any]], dict[str, Any]]

ACCOUNT = "123456789012"
AWS_REGION = "us-east-1"
GCP_PROJECT = "test-project"
FAKE_DIGEST = "sha256:" + "ab" * 32


def _docker_build_image(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    tags = inputs.get("tags") or []
    pushed = bool(inputs.get("push"))
    ref = f"{tags[0].rsplit(':', 1)[0]}@{FAKE_DIGEST}" if tags and pushed else (tags or [""])[0]
    return {"digest": FAKE_DIGEST if pushed or inputs.get("load") else "", "ref": ref,
            "contextHash": "c0ffee" * 10 + "beef"}  # fmt: skip


COMMON_OUTPUTS: dict[str, Outputs] = {
    "docker-build:index:Image": _docker_build_image,
}

# --- aws target -------------------------------------------------------------------------------
AWS_OUTPUTS: dict[str, Outputs] = {}
AWS_CALLS: dict[str, CallResult] = {}

# --- gcp target -------------------------------------------------------------------------------
GCP_REGION = "us-central1"
GCP_PROJECT_NUMBER = "987654321098"
GCP_ACCESS_TOKEN = "ya29.fake-access-token"
GCP_CLUSTER_ENDPOINT = "34.30.0.10"
# base64 of a PEM block, as GKE returns masterAuth.clusterCaCertificate.
GCP_CLUSTER_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmZha2UgY2x1c3RlciBDQQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="
# What the LoadBalancer Service's status reports; GKE gives an ip, other clouds a hostname. Tests
# monkeypatch it to see both.
GCP_LB_INGRESS: dict[str, str] = {"ip": "34.120.0.10"}


def _gcp_autoname(name: str, inputs: dict[str, Any]) -> str:
    return inputs.get("name") or f"{name}-1a2b3c4"


def _gke_cluster(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    cluster = _gcp_autoname(name, inputs)
    location = inputs.get("location", GCP_REGION)
    return {
        "id": f"projects/{GCP_PROJECT}/locations/{location}/clusters/{cluster}",
        "name": cluster,
        "endpoint": GCP_CLUSTER_ENDPOINT,
        "masterAuth": {"clusterCaCertificate": GCP_CLUSTER_CA},
        "project": GCP_PROJECT,
    }


def _gke_node_pool(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"name": _gcp_autoname(name, inputs), "project": GCP_PROJECT}


def _ar_repository(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    location = inputs.get("location", GCP_REGION)
    return {
        "name": f"projects/{GCP_PROJECT}/locations/{location}/repositories/{inputs['repositoryId']}",
        "project": GCP_PROJECT,
    }


def _k8s_service(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if (inputs.get("spec") or {}).get("type") != "LoadBalancer":
        return {}
    return {"status": {"loadBalancer": {"ingress": [dict(GCP_LB_INGRESS)]}}}


GCP_OUTPUTS: dict[str, Outputs] = {
    "gcp:container/cluster:Cluster": _gke_cluster,
    "gcp:container/nodePool:NodePool": _gke_node_pool,
    "gcp:artifactregistry/repository:Repository": _ar_repository,
    "kubernetes:core/v1:Service": _k8s_service,
}
GCP_CALLS: dict[str, CallResult] = {
    "gcp:organizations/getClientConfig:getClientConfig": lambda args: {
        "accessToken": GCP_ACCESS_TOKEN,
        "project": GCP_PROJECT,
        "region": GCP_REGION,
        "zone": "",
        "id": f"projects/{GCP_PROJECT}/regions/{GCP_REGION}/zones/",
        "defaultLabels": {},
    },
    "gcp:compute/getDefaultServiceAccount:getDefaultServiceAccount": lambda args: {
        "email": f"{GCP_PROJECT_NUMBER}-compute@developer.gserviceaccount.com",
        "member": f"serviceAccount:{GCP_PROJECT_NUMBER}-compute@developer.gserviceaccount.com",
        "name": f"projects/{GCP_PROJECT}/serviceAccounts/{GCP_PROJECT_NUMBER}-compute@developer.gserviceaccount.com",
        "displayName": "Compute Engine default service account",
        "project": GCP_PROJECT,
        "uniqueId": "100000000000000000001",
        "id": f"projects/{GCP_PROJECT}/serviceAccounts/{GCP_PROJECT_NUMBER}-compute@developer.gserviceaccount.com",
    },
}

# --- local target -----------------------------------------------------------------------------
LOCAL_OUTPUTS: dict[str, Outputs] = {}
LOCAL_CALLS: dict[str, CallResult] = {}

FAKE_OUTPUTS: dict[str, Outputs] = {**COMMON_OUTPUTS, **AWS_OUTPUTS, **GCP_OUTPUTS, **LOCAL_OUTPUTS}
FAKE_CALLS: dict[str, CallResult] = {**AWS_CALLS, **GCP_CALLS, **LOCAL_CALLS}
