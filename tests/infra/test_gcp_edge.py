"""The gcp public edge: HTTPS on a domain through GKE Ingress, Cloud Armor, keys in a Secret.

Rendered with the shipped `gcp` stack plus the edge keys, and without them (nothing changes).
Core objects are checked with kubernetes-validate, GKE's custom resources with their CRDs'
schemas (tests/infra/schemas); no API key may appear outside a secret.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pulumi
import pytest

from app.server import Settings as ServerSettings
from app.server import load_settings
from tests.harness import Rendered, Res, run_stack
from tests.infra import fakes
from tests.infra.test_aws_edge import KEY_A, KEY_B, everywhere, is_secret, plain

SCHEMAS = Path(__file__).with_name("schemas")
K8S_VERSION = kubernetes_validate.utils.latest_version()
DOMAIN = "model.example.com"
GCP = {"gcp:project": "my-project"}

ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"
SSL_POLICY = "gcp:compute/sSLPolicy:SSLPolicy"
RECORD_SET = "gcp:dns/recordSet:RecordSet"
SECRET = "kubernetes:core/v1:Secret"
SERVICE = "kubernetes:core/v1:Service"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
MANAGED_CERT = "kubernetes:networking.gke.io/v1:ManagedCertificate"
BACKEND_CONFIG = "kubernetes:cloud.google.com/v1:BackendConfig"
FRONTEND_CONFIG = "kubernetes:networking.gke.io/v1beta1:FrontendConfig"
CLUSTER = "gcp:container/cluster:Cluster"
EDGE_TYPES = {ADDRESS, ARMOR, SSL_POLICY, RECORD_SET, SECRET, INGRESS, MANAGED_CERT,
              BACKEND_CONFIG, FRONTEND_CONFIG}  # fmt: skip


def render(**overrides: Any) -> Rendered:
    return run_stack("gcp", {**GCP, **overrides})


def manifest(res: Res) -> dict[str, Any]:
    return plain(
        {k: v for k, v in res.inputs.items() if k in ("apiVersion", "kind", "metadata", "spec")}
    )


def strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` on every object that lists properties:
    the API server prunes unknown fields of a structural CRD silently, a test should not."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if "properties" in out and out.get("type") == "object":
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def crd_valid(res: Res, schema_file: str) -> None:
    schema = strict(json.loads((SCHEMAS / schema_file).read_text()))
    jsonschema.validate(manifest(res), schema)


@pytest.fixture
def shipped() -> Rendered:
    return render()


def test_without_the_keys_the_stack_keeps_its_loadbalancer_service_and_nothing_else(shipped):
    assert not (shipped.types() & EDGE_TYPES)
    service = shipped.one(SERVICE)
    assert service.inputs["spec"]["type"] == "LoadBalancer"
    assert "annotations" not in service.inputs["metadata"]
    (container,) = shipped.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [{"name": "PORT", "value": "8080"}]
    assert shipped.outputs["url"] == f"http://{fakes.GCP_LB_INGRESS['ip']}"
    assert "address" not in shipped.outputs


def test_domain_puts_the_service_behind_an_https_load_balancer_on_a_static_address(
    monkeypatch: pytest.MonkeyPatch,
):
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    r = render(domain=DOMAIN)
    shipped_cluster = run_stack("gcp", GCP).one(CLUSTER).inputs
    assert r.one(CLUSTER).inputs == shipped_cluster, "the cluster is not touched"

    address = r.one(ADDRESS)
    assert address.inputs["addressType"] == "EXTERNAL" and address.inputs["ipVersion"] == "IPV4"
    assert not address.protect and not address.retain_on_delete
    assert address.parent == r.one("echo-service:gcp:GkeService").urn, "no Kubernetes owner"
    compute_api = next(
        res
        for res in r.of_type("gcp:projects/service:Service")
        if res.inputs["service"] == "compute.googleapis.com"
    )
    for res in (address, r.one(SSL_POLICY)):
        assert compute_api.urn in res.dependencies

    service = r.one(SERVICE)
    assert service.inputs["spec"]["type"] == "ClusterIP"
    annotations = service.inputs["metadata"]["annotations"]
    assert json.loads(annotations["cloud.google.com/neg"]) == {"ingress": True}
    backend = r.one(BACKEND_CONFIG)
    assert json.loads(annotations["cloud.google.com/backend-config"]) == {
        "default": backend.inputs["metadata"]["name"]
    }
    kubernetes_validate.validate(manifest(service), K8S_VERSION, strict=True)

    crd_valid(backend, "backendconfig-v1.json")
    assert plain(backend.inputs["spec"]["healthCheck"]) == {
        "type": "HTTP", "requestPath": "/readyz", "port": 8080, "checkIntervalSec": 10,
        "timeoutSec": 5, "healthyThreshold": 2, "unhealthyThreshold": 3,
    }  # fmt: skip
    assert backend.inputs["spec"]["securityPolicy"] == {"name": ""}

    cert = r.one(MANAGED_CERT)
    crd_valid(cert, "managedcertificate-v1.json")
    assert cert.inputs["spec"] == {"domains": [DOMAIN]}

    frontend = r.one(FRONTEND_CONFIG)
    crd_valid(frontend, "frontendconfig-v1beta1.json")
    assert frontend.inputs["spec"]["redirectToHttps"] == {
        "enabled": True,
        "responseCodeName": "MOVED_PERMANENTLY_DEFAULT",
    }
    ssl = r.one(SSL_POLICY)
    assert frontend.inputs["spec"]["sslPolicy"] == ssl.outputs["name"]
    assert (ssl.inputs["minTlsVersion"], ssl.inputs["profile"]) == ("TLS_1_2", "MODERN")

    ingress = r.one(INGRESS)
    kubernetes_validate.validate(manifest(ingress), K8S_VERSION, strict=True)
    assert ingress.inputs["metadata"]["annotations"] == {
        "kubernetes.io/ingress.class": "gce",
        "kubernetes.io/ingress.global-static-ip-name": address.outputs["name"],
        "networking.gke.io/managed-certificates": cert.inputs["metadata"]["name"],
        "networking.gke.io/v1beta1.FrontendConfig": frontend.inputs["metadata"]["name"],
    }
    assert plain(ingress.inputs["spec"]["defaultBackend"]) == {
        "service": {"name": service.inputs["metadata"]["name"], "port": {"number": 80}}
    }
    assert backend.urn in ingress.dependencies

    assert r.outputs["url"] == f"https://{DOMAIN}"
    assert r.outputs["address"] == fakes.GCP_STATIC_IP
    assert not r.of_type(RECORD_SET)
    (told,) = [w for w in warnings if DOMAIN in w]
    assert f"{DOMAIN}. A {fakes.GCP_STATIC_IP}" in told


def env_of(r: Rendered) -> dict[str, str]:
    (container,) = r.one(DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


# Google's L7 load balancer keeps idle backend connections 600 s, a fixed value (Cloud Load
# Balancing docs, "Request distribution for external Application Load Balancers"), and waits
# for a response as long as the backend service's timeout (30 s unless set).
GCLB_BACKEND_KEEPALIVE_SECONDS = 600


@pytest.mark.parametrize(
    ("overrides", "timeout"), [({}, 30), ({"timeoutSeconds": 120}, 120), ({"workers": 2}, 30)]
)
def test_behind_the_load_balancer_the_server_outlasts_its_keepalive_and_its_timeout(
    overrides: dict[str, Any], timeout: int
):
    r = render(domain=DOMAIN, **overrides)
    env = env_of(r)
    assert int(env["KEEPALIVE_TIMEOUT"]) > GCLB_BACKEND_KEEPALIVE_SECONDS
    assert env.get("TIMEOUT", "30") == str(timeout), "the app's own limit is the one shown"
    backend = r.one(BACKEND_CONFIG)
    crd_valid(backend, "backendconfig-v1.json")
    # The load balancer waits longer than one prediction may run, queue wait on top.
    assert backend.inputs["spec"]["timeoutSec"] == timeout + 30
    kubernetes_validate.validate(manifest(r.one(DEPLOYMENT)), K8S_VERSION, strict=True)
    # The server takes the environment as rendered (it refuses a value out of its range).
    server = load_settings(env)
    assert server.keepalive_timeout == int(env["KEEPALIVE_TIMEOUT"])


# Endpoint removal from a NEG takes tens of seconds (Google Cloud KB 000006416 sleeps 40 s in
# preStop for it); connection draining takes 0-3600 s (Cloud Load Balancing docs, "Enable
# connection draining").
NEG_DETACH_SECONDS = 30


def test_behind_the_load_balancer_a_pod_outlives_its_detachment_from_the_neg(shipped):
    r = render(domain=DOMAIN)
    pod = plain(r.one(DEPLOYMENT).inputs["spec"]["template"]["spec"])
    (container,) = pod["containers"]
    sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep >= NEG_DETACH_SECONDS, "SIGTERM before the load balancer lets go: 502s"
    # The grace period counts from the start of preStop: the sleep, then the server's own stop.
    assert pod["terminationGracePeriodSeconds"] > sleep + ServerSettings.graceful_timeout
    backend = r.one(BACKEND_CONFIG)
    crd_valid(backend, "backendconfig-v1.json")
    draining = backend.inputs["spec"]["connectionDraining"]["drainingTimeoutSec"]
    assert 1 <= draining <= 3600
    assert draining < sleep, "the endpoint has drained before the server stops"
    kubernetes_validate.validate(manifest(r.one(DEPLOYMENT)), K8S_VERSION, strict=True)
    # Without a domain the Service's load balancer forwards to nodes: the short stop stays.
    pod = plain(shipped.one(DEPLOYMENT).inputs["spec"]["template"]["spec"])
    assert pod["containers"][0]["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert pod["terminationGracePeriodSeconds"] == 30


def test_the_ingress_waits_for_its_address_as_long_as_the_service_would():
    # pulumi-kubernetes gives an Ingress 10 minutes for its address by default; the Service,
    # created at the same time, waits 20 for a first Deployment (issue 17, item 16).
    r = render(domain=DOMAIN)
    ingress = r.one(INGRESS).custom_timeouts
    assert ingress == r.one(SERVICE).custom_timeouts
    deployment = r.one(DEPLOYMENT).custom_timeouts
    assert int(ingress["create"][:-1]) > int(deployment["create"][:-1])


def test_dns_zone_gets_the_a_record_pointing_at_the_static_address():
    r = render(domain=DOMAIN, dnsZone="example-com")
    record = r.one(RECORD_SET)
    assert plain(record.inputs) == {
        "managedZone": "example-com",
        "name": f"{DOMAIN}.",
        "type": "A",
        "ttl": 300,
        "rrdatas": [fakes.GCP_STATIC_IP],
    }


def test_a_new_domain_keeps_the_reserved_address():
    # Every field of google_compute_global_address is ForceNew (terraform-provider-google,
    # resource_compute_global_address.go: no Update function): a description that named the
    # domain replaced the address, its IP and its DNS record whenever the domain changed.
    first = render(domain=DOMAIN).one(ADDRESS)
    second = render(domain="other.example.org").one(ADDRESS)
    assert first.inputs == second.inputs
    assert DOMAIN not in first.inputs["description"]
    # An address made with the old description keeps it, rather than being replaced once.
    assert first.ignore_changes == ["description"]


def test_deletion_protection_protects_the_address():
    assert render(domain=DOMAIN, deletionProtection=True).one(ADDRESS).protect


def test_rate_limit_throttles_each_ip_with_cloud_armor_attached_through_the_backend_config():
    r = render(domain=DOMAIN, rateLimitPerMinute=60)
    policy = r.one(ARMOR)
    throttle, default = plain(policy.inputs["rules"])
    assert throttle["action"] == "throttle"
    assert throttle["match"] == {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}}
    assert throttle["rateLimitOptions"] == {
        "conformAction": "allow",
        "exceedAction": "deny(429)",
        "enforceOnKey": "IP",
        "rateLimitThreshold": {"count": 60, "intervalSec": 60},
    }
    assert (default["priority"], default["action"]) == (2147483647, "allow")
    backend = r.one(BACKEND_CONFIG)
    crd_valid(backend, "backendconfig-v1.json")
    assert backend.inputs["spec"]["securityPolicy"] == {"name": policy.outputs["name"]}


def test_rate_limit_back_to_0_detaches_the_policy_before_deleting_it():
    # GKE's Ingress controller ignores a BackendConfig without securityPolicy (the policy stays
    # attached, and deleting it fails "in use"); it detaches only on an empty name
    # (kubernetes/ingress-gce, pkg/backends/features/securitypolicy.go).
    on = render(domain=DOMAIN, rateLimitPerMinute=60)
    off = render(domain=DOMAIN)
    assert not off.of_type(ARMOR)
    backend = off.one(BACKEND_CONFIG)
    crd_valid(backend, "backendconfig-v1.json")
    assert backend.inputs["spec"]["securityPolicy"] == {"name": ""}
    # Same object (name, URN) on and off, so turning the key off is an update of it, which
    # Pulumi runs before it deletes the policy that left the program.
    assert off.one(BACKEND_CONFIG).urn == on.one(BACKEND_CONFIG).urn
    # With the policy: the BackendConfig, and the Ingress through it, depend on the policy, so
    # `pulumi destroy` takes the load balancer down (the Ingress's finalizer) before the policy.
    armor, backend, ingress = on.one(ARMOR), on.one(BACKEND_CONFIG), on.one(INGRESS)
    assert armor.urn in backend.dependencies
    assert backend.urn in ingress.dependencies


def test_api_keys_reach_the_pods_from_a_kubernetes_secret_and_nowhere_in_plaintext():
    r = render(apiKeys=f"{KEY_A},{KEY_B}", domain=DOMAIN)
    secret = r.one(SECRET)
    assert "name" not in secret.inputs["metadata"], "auto-named: new keys, new name, new Pods"
    assert is_secret(secret.inputs["stringData"])
    assert secret.inputs["stringData"]["value"] == {"API_KEYS": f"{KEY_A},{KEY_B}"}
    revealed = {**manifest(secret), "stringData": secret.inputs["stringData"]["value"]}
    revealed["metadata"] = {**revealed["metadata"], "name": secret.outputs["metadata"]["name"]}
    kubernetes_validate.validate(revealed, K8S_VERSION, strict=True)

    deployment = r.one(DEPLOYMENT)
    (container,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
    (api_keys,) = [e for e in container["env"] if e["name"] == "API_KEYS"]
    assert api_keys == {
        "name": "API_KEYS",
        "valueFrom": {
            "secretKeyRef": {"name": secret.outputs["metadata"]["name"], "key": "API_KEYS"}
        },
    }
    kubernetes_validate.validate(manifest(deployment), K8S_VERSION, strict=True)
    assert everywhere(r) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"rateLimitPerMinute": 100}, "needs echo-service:domain on gcp"),
        ({"managedRules": True}, "echo-service:managedRules = true: is for aws stacks only"),
        ({"domain": "a" * 60 + ".example.com"}, "at most 63 characters on gcp"),
        ({"dnsZone": "Example.com", "domain": DOMAIN}, "echo-service:dnsZone"),
    ],
)
def test_gcp_refuses_what_it_cannot_do(overrides: dict[str, Any], expected: str):
    with pytest.raises(pulumi.RunError) as caught:
        render(**overrides)
    assert expected in str(caught.value)


def test_the_crd_schemas_catch_a_misspelt_field():
    inputs = {
        "apiVersion": "cloud.google.com/v1",
        "kind": "BackendConfig",
        "metadata": {},
        "spec": {"healthCheck": {"requestpath": "/readyz"}},
    }
    backend = Res(BACKEND_CONFIG, "b", "u", inputs, {})
    with pytest.raises(jsonschema.ValidationError):
        crd_valid(backend, "backendconfig-v1.json")


def test_secrets_stay_immutable_so_new_keys_roll_the_pods():
    r = render(apiKeys=f"{KEY_A},{KEY_B}")
    provider = r.one("pulumi:providers:kubernetes")
    assert "enableSecretMutable" not in provider.inputs


def test_a_preview_with_every_edge_key_renders():
    overrides = {**GCP, "domain": DOMAIN, "apiKeys": KEY_A, "rateLimitPerMinute": 100}
    r = run_stack("gcp", overrides, preview=True)
    assert r.of_type(INGRESS) and r.of_type(ARMOR) and r.of_type(SECRET)
