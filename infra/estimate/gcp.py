"""What a gcp stack costs (GKE Autopilot or Standard, the forwarding rules, Artifact Registry,
the edge, the model's storage), and Cloud Run as its serverless alternative."""

from __future__ import annotations

import math

from infra.estimate.items import EstimateError, Item, Serverless, Traffic, _money
from infra.estimate.prices import _PRICES_PATH, ASSUMED_IMAGE_GB, _Prices
from infra.settings import EPHEMERAL_HEADROOM_GIB, Settings

# GKE regional clusters put node pools in three zones of the region unless told otherwise.
# Source: GKE docs, "Regional clusters" (default node locations).
GKE_REGIONAL_NODE_ZONES = 3
# Node boot disks are priced for the disk type the stack sets (nodeDiskType); the prices file
# holds pd-balanced, the default.
PRICED_NODE_DISK_TYPES = {"pd-balanced": "pd_balanced_gb_month"}
# Cloud Run bills request-based instance time rounded up to 100 ms. Source: Cloud Run pricing.
CLOUD_RUN_BILLING_MS = 100
# Cloud Run vCPU assumed while serving a request (its default for a new service is 1).
CLOUD_RUN_VCPU = 1


def _gcp(s: Settings, p: _Prices) -> tuple[list[Item], list[str]]:
    assert s.gcp is not None
    g = s.gcp
    h = p.hours
    n = s.min_replicas
    items = [Item("GKE cluster management fee", p.usd("gke_cluster_hour"), h, "cluster-hour")]
    notes: list[str] = []
    if g.gke_mode == "autopilot":
        vcpu = s.cpu / 1024
        gib = s.memory / 1024
        per_pod = (vcpu * p.usd("autopilot_vcpu_hour") + gib * p.usd("autopilot_gib_hour")) * h
        items += [
            Item(
                f"Autopilot Pod vCPU ({n} Pods x {vcpu:g} vCPU)",
                p.usd("autopilot_vcpu_hour"),
                n * vcpu * h,
                "vCPU-hour",
            ),
            Item(
                f"Autopilot Pod memory ({n} Pods x {gib:g} GiB)",
                p.usd("autopilot_gib_hour"),
                n * gib * h,
                "GiB-hour",
            ),
        ]
        items += _autopilot_model_storage(s, p)
        notes += [
            "Autopilot bills the Pods' requests (general-purpose class), not nodes: system Pods "
            "and unused node space are free.",
            f"Always-on floor: minReplicas = {n}. The autoscaler may add Pods up to maxReplicas "
            f"= {s.max_replicas}; each extra Pod adds {_money(per_pod)}/month while it runs.",
            "GKE free tier, not subtracted: $74.40 a month of credit per billing account, enough "
            "for one Autopilot or zonal cluster's management fee.",
            "Autopilot Pod ephemeral storage is not priced (about 1 GiB per Pod by default; the "
            "stored price copies disagreed, so it is left out rather than guessed).",
        ]
        if s.model.enabled:
            notes[-1] = (
                "Autopilot Pod ephemeral storage is priced because modelUri asks for room for the "
                f"model (${p.usd('autopilot_ephemeral_storage_gib_hour')}/GiB-hour, an unconfirmed "
                f"figure: see {_PRICES_PATH}); extra Pods add it too."
            )
    else:
        machines = p.figures.get("machine_types") or {}
        if g.machine_type not in machines:
            raise EstimateError(
                f"no price for machine type {g.machine_type} in {p.region}; known: "
                f"{', '.join(sorted(machines))}. Add it to {_PRICES_PATH} with its source and "
                "date."
            )
        if g.node_disk_type not in PRICED_NODE_DISK_TYPES:
            raise EstimateError(
                f"no price for node disk type {g.node_disk_type}; priced: "
                f"{', '.join(PRICED_NODE_DISK_TYPES)}. Add it to {_PRICES_PATH} with its source "
                "and date."
            )
        disk_price = p.usd(PRICED_NODE_DISK_TYPES[g.node_disk_type])
        disk_gb = g.node_disk_size_gb
        nodes = g.node_count * GKE_REGIONAL_NODE_ZONES
        node_hour = float(machines[g.machine_type]["usd"])
        per_node = node_hour * h + disk_price * disk_gb + p.usd("external_ipv4_vm_hour") * h
        items += [
            Item(
                f"Node VMs, {g.machine_type} ({g.node_count} per zone x "
                f"{GKE_REGIONAL_NODE_ZONES} zones)",
                node_hour,
                nodes * h,
                "node-hour",
            ),
            Item(
                f"Node boot disks ({nodes} x {disk_gb} GB {g.node_disk_type})",
                disk_price,
                nodes * disk_gb,
                "GB-month",
            ),
            Item(
                f"Node external IPv4 addresses ({nodes} nodes)",
                p.usd("external_ipv4_vm_hour"),
                nodes * h,
                "address-hour",
            ),
        ]
        notes += [
            f"Standard mode bills the nodes, whatever the Pods request. Assumed: a regional "
            f"cluster whose node pool has nodeCount = {g.node_count} node(s) in each of GKE's "
            f"default {GKE_REGIONAL_NODE_ZONES} zones, {disk_gb} GB {g.node_disk_type} boot "
            "disks (nodeDiskSizeGb, nodeDiskType) and public nodes, each with an external IPv4 "
            "address.",
            f"The node autoscaler may grow to maxNodeCount = {g.max_node_count} per zone; each "
            f"extra node adds {_money(per_node)}/month while it runs.",
            "GKE free tier: its $74.40 monthly credit covers one Autopilot or zonal cluster; it "
            "does not apply to a regional Standard cluster's fee.",
        ]
    # With a domain the Ingress's HTTPS load balancer has two forwarding rules on its static
    # address (443, and 80 for the redirect); the Service is no longer a LoadBalancer.
    rules, rule_name = (
        (2, "HTTPS load balancer forwarding rules (HTTPS and HTTP redirect)")
        if s.edge.domain
        else (1, "LoadBalancer Service forwarding rule")
    )
    items += [
        Item(rule_name, p.usd("forwarding_rule_hour"), rules * h, "rule-hour"),
        Item(
            f"Artifact Registry storage (~{ASSUMED_IMAGE_GB:g} GB image)",
            p.usd("artifact_registry_gb_month"),
            ASSUMED_IMAGE_GB,
            "GB-month",
        ),
    ]
    notes += [
        "Forwarding rule: the first 5 in a project cost "
        f"${p.usd('forwarding_rule_hour'):g}/hour each; further ones are cheaper.",
        "Artifact Registry free tier, not subtracted: the first 0.5 GB a month per billing "
        "account is free, so one small image usually costs nothing.",
        f"Traffic-dependent, not included: load balancer data processed "
        f"${p.usd('lb_data_processed_gib'):.3f}/GiB, internet data transfer out "
        f"${p.usd('data_transfer_out_gib'):.2f}/GiB, Cloud Logging beyond its free allotment.",
    ]
    edge_items, edge_notes = _gcp_edge(s, p)
    return items + edge_items, notes + edge_notes


def _gcp_edge(s: Settings, p: _Prices) -> tuple[list[Item], list[str]]:
    """The public edge's Google charges: the Cloud Armor policy and its rules."""
    edge = s.edge
    items: list[Item] = []
    notes: list[str] = []
    if edge.rate_limit_per_minute:
        # The throttle rule and the default rule; Google may not bill the default one.
        items += [
            Item("Cloud Armor policy", p.usd("cloud_armor_policy_month"), 1, "policy-month"),
            Item(
                "Cloud Armor rules (throttle + default)",
                p.usd("cloud_armor_rule_month"),
                2,
                "rule-month",
            ),
        ]
        notes.append(
            "Traffic-dependent, not included: Cloud Armor evaluates every request at "
            f"${p.usd('cloud_armor_request_million'):.2f} per million. The Cloud Armor figures "
            f"are unverified (no stored copy of Google's page was found): check {_PRICES_PATH}."
        )
    if edge.domain:
        notes.append(
            "domain: the Google-managed certificate and the SSL policy are free; the reserved "
            "static address is not billed while the load balancer uses it (an unused reserved "
            "address is)."
        )
        if edge.dns_zone:
            notes.append(
                f"Cloud DNS: queries for the record cost ${p.usd('cloud_dns_query_million'):.2f} "
                f"per million; the managed zone {edge.dns_zone}'s own monthly fee is yours already."
            )
    return items, notes


def _autopilot_model_storage(s: Settings, p: _Prices) -> list[Item]:
    """With a model to fetch, each Pod requests its volume plus 1 GiB of ephemeral storage, and
    Autopilot bills the request. (In Standard mode the volume is on the nodes' boot disks, which
    are already priced.)"""
    if not s.model.enabled:
        return []
    gib = s.model.storage_gib + EPHEMERAL_HEADROOM_GIB
    n = s.min_replicas
    return [
        Item(
            f"Autopilot Pod ephemeral storage ({n} Pods x {gib} GiB: the model's volume + 1 GiB)",
            p.usd("autopilot_ephemeral_storage_gib_hour"),
            n * gib * p.hours,
            "GiB-hour",
        )
    ]


def cloud_run_alternative(p: _Prices, traffic: Traffic, container_monthly_usd: float) -> Serverless:
    """Cloud Run (request-based billing) serving `traffic`, one request per instance at a time."""
    gib = traffic.memory_mb / 1024
    billed_ms = math.ceil(traffic.ms_per_request / CLOUD_RUN_BILLING_MS) * CLOUD_RUN_BILLING_MS
    seconds = billed_ms / 1000
    n = traffic.requests_per_month
    per_request = (
        p.usd("cloud_run_request_million") / 1e6
        + CLOUD_RUN_VCPU * seconds * p.usd("cloud_run_vcpu_second")
        + gib * seconds * p.usd("cloud_run_gib_second")
    )
    items = [
        Item("Cloud Run requests", p.usd("cloud_run_request_million"), n / 1e6, "million requests"),
        Item(
            f"Cloud Run vCPU ({CLOUD_RUN_VCPU} vCPU x {billed_ms} ms billed)",
            p.usd("cloud_run_vcpu_second"),
            n * CLOUD_RUN_VCPU * seconds,
            "vCPU-second",
        ),
        Item(
            f"Cloud Run memory ({gib:g} GiB x {billed_ms} ms billed)",
            p.usd("cloud_run_gib_second"),
            n * gib * seconds,
            "GiB-second",
        ),
    ]
    notes = [
        f"Request-based billing, {CLOUD_RUN_VCPU} vCPU while serving, instance time rounded up to "
        f"{CLOUD_RUN_BILLING_MS} ms per request ({traffic.ms_per_request:g} ms -> {billed_ms} ms), "
        "as if each instance served one request at a time. Concurrent requests on one instance "
        "(Cloud Run allows up to 80 by default) share billed time, so CPU and memory here are an "
        "upper bound.",
        "Cloud Run free tier, not subtracted: 180,000 vCPU-seconds, 360,000 GiB-seconds and "
        "2 million requests a month per billing account.",
    ]
    return Serverless(
        "Google Cloud Run (request-based billing)",
        p.region,
        n,
        traffic.ms_per_request,
        traffic.memory_mb,
        items,
        notes,
        container_monthly_usd,
        per_request,
    )
