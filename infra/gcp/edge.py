"""The gcp target's public edge on a domain: a global external Application Load Balancer.

Made from Kubernetes with GKE Ingress, not the Gateway API: with `domain` set, the program adds
- a reserved global static IPv4 address (`gcp.compute.GlobalAddress`), a Google resource of its
  own that no Kubernetes object owns: replacing the Service, the Ingress or even the cluster
  leaves it (and the DNS record pointing at it) as it is; `pulumi destroy` releases it, unless
  `deletionProtection` protects it;
- a Google-managed certificate (`ManagedCertificate`, networking.gke.io/v1), which Google
  provisions once the domain resolves to the address and renews by itself;
- a `FrontendConfig` that redirects HTTP to HTTPS (301) and sets a TLS 1.2+ SSL policy;
- a `BackendConfig` whose health check asks the readiness path (GKE's L7 health checks
  otherwise ask `/`) and which attaches the Cloud Armor policy when `rateLimitPerMinute` is set;
- the Ingress itself, on the static address, sending everything to the endpoint's Service,
  which becomes a ClusterIP Service reached through network endpoint groups (container-native
  load balancing: the load balancer talks to the Pods directly);
- a Cloud DNS A record when `dnsZone` names the managed zone; otherwise the address to point the
  domain at is exported and printed.

Why Ingress: GKE's Ingress controller runs on every Autopilot and Standard cluster (the
HttpLoadBalancing add-on is on by default), so the cluster is not touched when a domain is set,
and a Google-managed certificate is one Kubernetes object. The Gateway API would need the cluster's
Gateway API channel enabled and the certificate made in Certificate Manager (a certificate, a map
and a map entry, plus that API); it is as capable for this one host and route, not simpler.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.settings import READINESS_PATH, Settings

INGRESS_CLASS = "gce"  # GKE's external Application Load Balancer (the default class)
# The load balancer's health check: every 10 s, 5 s to answer, 2 to turn healthy, 3 unhealthy,
# the same rhythm as the ALB's on aws.
HEALTH_CHECK_INTERVAL_SECONDS = 10
HEALTH_CHECK_TIMEOUT_SECONDS = 5
HEALTHY_THRESHOLD = 2
UNHEALTHY_THRESHOLD = 3
# TLS 1.2 and 1.3 only, with the MODERN cipher profile (the aws target's policy equivalent).
SSL_MIN_TLS_VERSION = "TLS_1_2"
SSL_PROFILE = "MODERN"
# Cloud Armor throttle: each client IP may send `count` requests per `interval_sec` (allowed
# intervals include 60; source: Cloud Armor docs, "Rate limiting overview"); over it, 429.
RATE_LIMIT_INTERVAL_SECONDS = 60
RATE_LIMIT_PRIORITY = 1000
DEFAULT_RULE_PRIORITY = 2147483647  # Cloud Armor's default rule: the lowest priority
DNS_TTL_SECONDS = 300
# pulumi-kubernetes waits for the Ingress's address (its .status.loadBalancer.ingress) 10 minutes
# by default; the Ingress is created with the Service and the Deployment, and GKE makes its load
# balancer only once the NEGs have Pods. So it waits as long as the Service does
# (infra/gcp/workload.py, SERVICE_TIMEOUTS), which outlasts a first Deployment.
INGRESS_TIMEOUTS = pulumi.CustomTimeouts(create="20m", update="10m")
# Google's L7 load balancer keeps its connections to a backend open for 600 s when idle, a fixed
# value (Cloud Load Balancing docs, "Request distribution for external Application Load
# Balancers": the GFE's backend keepalive timeout). The server keeps them longer, so the load
# balancer always closes first and never sends a request down a connection the server is
# closing (a 502). Like the aws target's SERVER_KEEPALIVE_TIMEOUT_SECONDS against the ALB.
GCLB_BACKEND_KEEPALIVE_SECONDS = 600
SERVER_KEEPALIVE_TIMEOUT_SECONDS = GCLB_BACKEND_KEEPALIVE_SECONDS + 20
# The backend service's timeout is how long the load balancer waits for a whole response; GCLB's
# default is 30 s, the same as one prediction may run with the app's default TIMEOUT, so a slow
# prediction (or one that waited in the queue) got a 502 before the server answered. It is set
# from the stack's timeoutSeconds (the app's 30 s when 0) plus the time a request may wait in
# the queue, as the aws target sets the ALB's idle timeout (infra/aws/edge.py, alb_timeouts).
APP_DEFAULT_TIMEOUT_SECONDS = 30
BACKEND_TIMEOUT_MARGIN_SECONDS = 30
# A Pod going away behind the Ingress (a rollout, a scale-in). Its endpoint leaves the
# EndpointSlice at once, but the load balancer sends it requests until the NEG controller has
# detached it from the network endpoint group through the Compute API, tens of seconds later; a
# server that stops on SIGTERM before then answers those with 502s. So the Pod sleeps in preStop
# about as long as the detachment takes (before SIGTERM), and the backend service drains the
# detached endpoint: no new requests, those in flight get this long to finish. Sources: GKE docs,
# "Troubleshoot load balancing in GKE" (NEG-related 500-series errors during workload scaling);
# Google Cloud knowledge base, "502 503 errors on external HTTP(s) Load Balancer" (000006416: a
# preStop sleep about as long as the endpoint's removal from the NEG, 40 s in its example, and a
# grace period that covers it); Cloud Load Balancing docs, "Enable connection draining" (0-3600 s,
# zonal NEGs). The Pod's grace period covers the sleep (infra/gcp/workload.py).
NEG_PRE_STOP_SLEEP_SECONDS = 40
CONNECTION_DRAINING_SECONDS = 30
assert CONNECTION_DRAINING_SECONDS < NEG_PRE_STOP_SLEEP_SECONDS
# The static address's description: the same for every domain (the field is force-new).
ADDRESS_DESCRIPTION = "echo-service: the address of the HTTPS load balancer of the endpoint"


def security_policy(
    parent: pulumi.ComponentResource,
    name: str,
    provider: gcp.Provider,
    settings: Settings,
    compute_api: pulumi.Resource,
) -> gcp.compute.SecurityPolicy:
    """The Cloud Armor policy: throttle each client IP to rateLimitPerMinute, deny(429) above."""
    everyone = gcp.compute.SecurityPolicyRuleMatchArgs(
        versioned_expr="SRC_IPS_V1",
        config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=["*"]),
    )
    return gcp.compute.SecurityPolicy(
        f"{name}-armor",
        description="echo-service: per-IP rate limit on the endpoint's load balancer",
        type="CLOUD_ARMOR",
        rules=[
            gcp.compute.SecurityPolicyRuleArgs(
                priority=RATE_LIMIT_PRIORITY,
                description="rate limit per client IP",
                action="throttle",
                match=everyone,
                rate_limit_options=gcp.compute.SecurityPolicyRuleRateLimitOptionsArgs(
                    conform_action="allow",
                    exceed_action="deny(429)",
                    enforce_on_key="IP",
                    rate_limit_threshold=(
                        gcp.compute.SecurityPolicyRuleRateLimitOptionsRateLimitThresholdArgs(
                            count=settings.edge.rate_limit_per_minute,
                            interval_sec=RATE_LIMIT_INTERVAL_SECONDS,
                        )
                    ),
                ),
            ),
            # Cloud Armor adds this rule itself when a policy has none; declared, so the
            # policy in the state is the policy in the cloud.
            gcp.compute.SecurityPolicyRuleArgs(
                priority=DEFAULT_RULE_PRIORITY,
                description="default rule: allow",
                action="allow",
                match=everyone,
            ),
        ],
        opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[compute_api]),
    )


def static_address(
    parent: pulumi.ComponentResource,
    name: str,
    provider: gcp.Provider,
    settings: Settings,
    compute_api: pulumi.Resource,
) -> gcp.compute.GlobalAddress:
    """The reserved global IPv4 address the load balancer listens on and the domain points at.

    Every field of a global address is force-new (the Compute API has no update for it), so its
    description names no setting: a new `domain` keeps the address, its DNS record and the
    Ingress on it. An address made before the description was stable keeps the one it has
    (`ignore_changes`), rather than being replaced for a comment.
    """
    return gcp.compute.GlobalAddress(
        f"{name}-ip",
        description=ADDRESS_DESCRIPTION,
        address_type="EXTERNAL",
        ip_version="IPV4",
        opts=pulumi.ResourceOptions(
            parent=parent,
            provider=provider,
            protect=settings.deletion_protection,
            depends_on=[compute_api],
            ignore_changes=["description"],
        ),
    )


def gclb_timeouts(settings: Settings) -> tuple[int, int]:
    """(the BackendConfig's timeoutSec, the server's KEEPALIVE_TIMEOUT) behind the Ingress."""
    timeout = settings.server.timeout_seconds or APP_DEFAULT_TIMEOUT_SECONDS
    return timeout + BACKEND_TIMEOUT_MARGIN_SECONDS, SERVER_KEEPALIVE_TIMEOUT_SECONDS


def backend_config_annotations(backend_config: str) -> dict[str, str]:
    """The endpoint Service's annotations behind the Ingress: NEGs and the BackendConfig."""
    return {
        "cloud.google.com/neg": json.dumps({"ingress": True}),
        "cloud.google.com/backend-config": json.dumps({"default": backend_config}),
    }


def ingress(
    parent: pulumi.ComponentResource,
    name: str,
    provider: gcp.Provider,
    k8s_provider: k8s.Provider,
    settings: Settings,
    namespace: pulumi.Input[str],
    labels: dict[str, str],
    service: k8s.core.v1.Service,
    backend_config_name: str,
    service_port: int,
    compute_api: pulumi.Resource,
    dns_api: pulumi.Resource | None = None,
) -> dict[str, pulumi.Output]:
    """The load balancer's Google and Kubernetes objects; returns the stack's extra exports.

    `compute_api` is the Compute Engine API's enablement: the address, the SSL and security
    policies are Compute Engine resources, and a new project has that API off.
    """
    edge = settings.edge
    on_gcp = pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[compute_api])
    on_k8s = pulumi.ResourceOptions(parent=parent, provider=k8s_provider)
    object_name = settings.project

    def meta(object_name: str = object_name, **extra) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=object_name, namespace=namespace, labels=labels, **extra
        )

    address = static_address(parent, name, provider, settings, compute_api)
    armor = (
        security_policy(parent, name, provider, settings, compute_api)
        if edge.rate_limit_per_minute
        else None
    )
    ssl_policy = gcp.compute.SSLPolicy(
        f"{name}-tls",
        description="echo-service: TLS 1.2 and 1.3 only",
        min_tls_version=SSL_MIN_TLS_VERSION,
        profile=SSL_PROFILE,
        opts=on_gcp,
    )

    certificate = k8s.apiextensions.CustomResource(
        f"{name}-cert",
        api_version="networking.gke.io/v1",
        kind="ManagedCertificate",
        metadata=meta(),
        spec={"domains": [edge.domain]},
        opts=on_k8s,
    )
    backend_spec: dict[str, object] = {
        "timeoutSec": gclb_timeouts(settings)[0],
        "connectionDraining": {"drainingTimeoutSec": CONNECTION_DRAINING_SECONDS},
        "healthCheck": {
            "type": "HTTP",
            "requestPath": READINESS_PATH,
            "port": settings.container_port,
            "checkIntervalSec": HEALTH_CHECK_INTERVAL_SECONDS,
            "timeoutSec": HEALTH_CHECK_TIMEOUT_SECONDS,
            "healthyThreshold": HEALTHY_THRESHOLD,
            "unhealthyThreshold": UNHEALTHY_THRESHOLD,
        },
    }
    # The Cloud Armor policy by name, or "" when there is none: GKE's Ingress controller leaves
    # the backend service's policy as it is when `securityPolicy` is absent, and detaches it only
    # on an empty name (kubernetes/ingress-gce, pkg/backends/features/securitypolicy.go; the CRD:
    # "If set to empty, the existing security policy on the backend will be removed"). So a
    # stack whose rateLimitPerMinute goes back to 0 has its policy detached, and then deleted:
    # Pulumi deletes a resource that left the program after every update, the BackendConfig's
    # included. Only domain stacks render a BackendConfig; for one that never had a policy ""
    # is what the backend already has, and the controller does nothing.
    backend_spec["securityPolicy"] = {"name": armor.name if armor is not None else ""}
    backend_config = k8s.apiextensions.CustomResource(
        f"{name}-backend",
        api_version="cloud.google.com/v1",
        kind="BackendConfig",
        metadata=meta(backend_config_name),
        spec=backend_spec,
        opts=on_k8s,
    )
    frontend_config = k8s.apiextensions.CustomResource(
        f"{name}-frontend",
        api_version="networking.gke.io/v1beta1",
        kind="FrontendConfig",
        metadata=meta(),
        spec={
            "redirectToHttps": {"enabled": True, "responseCodeName": "MOVED_PERMANENTLY_DEFAULT"},
            "sslPolicy": ssl_policy.name,
        },
        opts=on_k8s,
    )
    k8s.networking.v1.Ingress(
        f"{name}-ingress",
        metadata=meta(
            annotations={
                "kubernetes.io/ingress.class": INGRESS_CLASS,
                "kubernetes.io/ingress.global-static-ip-name": address.name,
                "networking.gke.io/managed-certificates": certificate.metadata["name"],
                "networking.gke.io/v1beta1.FrontendConfig": frontend_config.metadata["name"],
            }
        ),
        spec=k8s.networking.v1.IngressSpecArgs(
            default_backend=k8s.networking.v1.IngressBackendArgs(
                service=k8s.networking.v1.IngressServiceBackendArgs(
                    name=service.metadata.name,
                    port=k8s.networking.v1.ServiceBackendPortArgs(number=service_port),
                )
            )
        ),
        # Pulumi waits until the load balancer reports its address; the certificate becomes
        # Active only after the domain resolves to it (up to about an hour; see
        # docs/domain-and-keys.md).
        opts=pulumi.ResourceOptions.merge(
            on_k8s,
            pulumi.ResourceOptions(depends_on=[backend_config], custom_timeouts=INGRESS_TIMEOUTS),
        ),
    )

    exports: dict[str, pulumi.Output] = {"address": address.address}
    if edge.dns_zone:
        gcp.dns.RecordSet(
            f"{name}-dns",
            managed_zone=edge.dns_zone,
            name=f"{edge.domain}.",
            type="A",
            ttl=DNS_TTL_SECONDS,
            rrdatas=[address.address],
            opts=pulumi.ResourceOptions.merge(
                on_gcp, pulumi.ResourceOptions(depends_on=[dns_api] if dns_api else None)
            ),
        )
    else:

        def tell(ip: str) -> str:
            if ip:
                pulumi.log.warn(
                    f"Point {edge.domain} at the load balancer: add the DNS record "
                    f"`{edge.domain}. A {ip}` at your DNS host (or set dnsZone to a Cloud DNS "
                    "managed zone and the program adds it). Google provisions the certificate "
                    "once the name resolves to this address, usually within an hour."
                )
            return ip

        exports["address"] = address.address.apply(tell)
    return exports
