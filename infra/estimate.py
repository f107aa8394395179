"""What a stack costs a month, before anything is deployed: `python -m infra.estimate STACK`.

Reads the same settings the program reads (Pulumi.yaml defaults, then `Pulumi.<stack>.yaml`,
validated by `infra.settings.load_settings`) with no credentials, no Pulumi CLI and no network,
and multiplies them by the public on-demand list prices in `infra/prices.yaml`, for a 730-hour
month. Free tiers and credits are listed in the notes, never subtracted.

With `--requests-per-month N` it also prices the serverless alternative at that traffic (AWS
Lambda behind a function URL for aws stacks, Cloud Run for gcp stacks) and the break-even
traffic above which the always-on containers are the cheaper of the two.

Exit status: 0 with an estimate, 2 when the stack, its settings, its region or an argument is
not usable (with a message saying why, never a traceback).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from infra.monitoring_costs import aws_monitoring, aws_traffic, gcp_monitoring
from infra.settings import (
    EPHEMERAL_HEADROOM_GIB,
    GCP_PROJECT_ENV,
    PROJECT,
    Settings,
    load_settings,
)
from infra.stackfiles import StackFileError, UnknownStackError, stack_config, stack_names

PRICES_FILE = Path(__file__).with_name("prices.yaml")
_PRICES_PATH = f"infra/{PRICES_FILE.name}"  # as a user finds it from the project directory

# gcp:project does not change a price, and an estimate must work before the user has a project:
# the loader gets this placeholder only here (the program itself still refuses to run without
# a real one).
ESTIMATE_PLACEHOLDER_PROJECT = "estimate-no-project-needed"

# The default design's new VPC has public subnets in two availability zones, and the ALB has a
# node (and a public IPv4 address) in each. Source: Pulumi.yaml, vpcId ("a new VPC with two
# public subnets and no NAT gateway").
DEFAULT_ALB_ZONES = 2
# GKE regional clusters put node pools in three zones of the region unless told otherwise.
# Source: GKE docs, "Regional clusters" (default node locations).
GKE_REGIONAL_NODE_ZONES = 3
# Node boot disks are priced for the disk type the stack sets (nodeDiskType); the prices file
# holds pd-balanced, the default.
PRICED_NODE_DISK_TYPES = {"pd-balanced": "pd_balanced_gb_month"}
# A slim Python image with granian and pydantic compresses to well under this; one image kept.
ASSUMED_IMAGE_GB = 0.1
# One load-balancer capacity unit: a light service averages at most this (25 new connections/s,
# 3,000 active connections/min, 1 GB/h or 1,000 rule evaluations/s, whichever is highest).
ASSUMED_ALB_LCUS = 1
# Cloud Run bills request-based instance time rounded up to 100 ms. Source: Cloud Run pricing.
CLOUD_RUN_BILLING_MS = 100
# Cloud Run vCPU assumed while serving a request (its default for a new service is 1).
CLOUD_RUN_VCPU = 1
# Lambda's configurable memory and maximum duration. Source: AWS Lambda quotas.
LAMBDA_MEMORY_MB = (128, 10240)
LAMBDA_MAX_MS = 900_000

DEFAULT_MS_PER_REQUEST = 50.0
DEFAULT_MEMORY_MB = 512


class EstimateError(Exception):
    """A stack, setting, region or argument that cannot be priced; the message says why."""


@dataclass(frozen=True)
class Item:
    """One priced line: unit price x quantity = monthly cost."""

    name: str
    unit_price_usd: float
    quantity: float
    unit: str

    @property
    def monthly_usd(self) -> float:
        """The item's gross monthly cost, unrounded."""
        return self.unit_price_usd * self.quantity

    def as_dict(self) -> dict[str, Any]:
        """The item as `--json` prints it (money rounded to cents, unit price as listed)."""
        return {
            "name": self.name,
            "unit_price_usd": self.unit_price_usd,
            "quantity": round(self.quantity, 6),
            "unit": self.unit,
            "monthly_usd": round(self.monthly_usd, 2),
        }


@dataclass(frozen=True)
class Serverless:
    """The serverless alternative at a given traffic, and where the containers win."""

    service: str
    region: str
    requests_per_month: int
    ms_per_request: float
    memory_mb: int
    items: list[Item]
    notes: list[str]
    container_monthly_usd: float
    cost_per_request_usd: float

    @property
    def monthly_usd(self) -> float:
        """The alternative's gross monthly cost at `requests_per_month`, unrounded."""
        return sum(i.monthly_usd for i in self.items)

    @property
    def break_even_requests_per_month(self) -> int:
        """Traffic above which the fixed container bill is the cheaper: container / per request."""
        return math.ceil(self.container_monthly_usd / self.cost_per_request_usd)

    def as_dict(self) -> dict[str, Any]:
        """The comparison as `--json` prints it under "serverless"."""
        return {
            "service": self.service,
            "region": self.region,
            "requests_per_month": self.requests_per_month,
            "ms_per_request": self.ms_per_request,
            "memory_mb": self.memory_mb,
            "monthly_usd": round(self.monthly_usd, 2),
            "cost_per_million_requests_usd": round(self.cost_per_request_usd * 1e6, 4),
            "break_even_requests_per_month": self.break_even_requests_per_month,
            "items": [i.as_dict() for i in self.items],
            "notes": self.notes,
        }


@dataclass(frozen=True)
class Estimate:
    """A stack's monthly estimate: priced items, their total and what was left out."""

    stack: str
    cloud: str
    region: str | None
    items: list[Item]
    notes: list[str]
    serverless: Serverless | None = None
    traffic_requested: bool = False

    @property
    def monthly_usd(self) -> float:
        """The gross monthly total, unrounded."""
        return sum(i.monthly_usd for i in self.items)

    def as_dict(self) -> dict[str, Any]:
        """The estimate as `--json` prints it."""
        out: dict[str, Any] = {
            "stack": self.stack,
            "cloud": self.cloud,
            "region": self.region,
            "monthly_usd": round(self.monthly_usd, 2),
            "items": [i.as_dict() for i in self.items],
            "notes": self.notes,
        }
        if self.traffic_requested:
            out["serverless"] = self.serverless.as_dict() if self.serverless else None
        return out


@dataclass(frozen=True)
class Traffic:
    """The traffic the serverless alternative is priced at."""

    requests_per_month: int
    ms_per_request: float = DEFAULT_MS_PER_REQUEST
    memory_mb: int = DEFAULT_MEMORY_MB


@dataclass
class _Prices:
    """One region's figures from the price file, and the hours in a month."""

    cloud: str
    region: str
    figures: Mapping[str, Any]
    hours: float

    def usd(self, key: str) -> float:
        return float(self.figures[key]["usd"])


# --- Reading prices and settings ----------------------------------------------------------------


def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    """Reads the price file and checks every figure says what it is, where from and when.

    Raises:
        EstimateError: if a figure lacks a positive `usd`, `per`, `source` or `as_of`.
    """
    data = yaml.safe_load(path.read_text())
    for cloud in ("aws", "gcp"):
        for region, figures in data[cloud].items():
            for key, figure in _figures(figures):
                missing = [k for k in ("usd", "per", "source", "as_of") if not figure.get(k)]
                if missing or float(figure["usd"]) <= 0:
                    raise EstimateError(
                        f"{path.name}: {cloud} {region} {key} needs a positive usd, per, source "
                        f"and as_of (missing: {', '.join(missing) or 'a positive usd'})"
                    )
    return data


def _figures(figures: Mapping[str, Any]):
    for key, figure in figures.items():
        if key == "machine_types":
            yield from ((f"machine_types.{k}", v) for k, v in figure.items())
        else:
            yield key, figure


def load_stack_settings(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """The validated settings `pulumi up` would use for `stack`, read without the Pulumi CLI.

    Args:
        stack: A stack with a `Pulumi.<stack>.yaml` in the project directory.
        overrides: Config on top of the stack file (`{"cpu": 512, "aws:region": "eu-west-1"}`),
            so callers and tests can vary a stack without writing files.
        env: The environment the providers' fallbacks are read from (AWS_REGION,
            GOOGLE_CLOUD_PROJECT); defaults to `os.environ`.

    Raises:
        EstimateError: for an unknown stack (naming the ones that exist) or invalid settings
            (with the program's own message naming each bad key).
    """
    try:
        config = stack_config(stack, overrides)
    except (UnknownStackError, StackFileError) as err:
        raise EstimateError(str(err)) from None
    env = dict(os.environ if env is None else env)
    if not config.get("gcp:project") and not any(env.get(n, "").strip() for n in GCP_PROJECT_ENV):
        env[GCP_PROJECT_ENV[0]] = ESTIMATE_PLACEHOLDER_PROJECT
    pulumi.runtime.set_all_config(config)
    try:
        return load_settings(pulumi.Config(PROJECT), stack=stack, env=env)
    except pulumi.RunError as err:
        raise EstimateError(str(err)) from None


def _region_prices(prices: Mapping[str, Any], cloud: str, region: str) -> _Prices:
    known = prices.get(cloud) or {}
    if region not in known:
        raise EstimateError(
            f"no prices for {cloud} region {region}; known: {', '.join(sorted(known))}. "
            f"Add that region's figures, each with its source and date, to {_PRICES_PATH}."
        )
    return _Prices(cloud, region, known[region], float(prices["hours_per_month"]))


# --- Pricing --------------------------------------------------------------------------------------


def estimate(
    settings: Settings,
    prices: Mapping[str, Any] | None = None,
    traffic: Traffic | None = None,
) -> Estimate:
    """Prices validated settings for one month; with `traffic`, adds the serverless alternative.

    Raises:
        EstimateError: for a region (or gcp machine type) the price file does not list.
    """
    prices = load_prices() if prices is None else prices
    if settings.cloud == "aws":
        assert settings.aws is not None
        p = _region_prices(prices, "aws", settings.aws.region)
        items, notes = _aws(settings, p)
        region: str | None = settings.aws.region
    elif settings.cloud == "gcp":
        assert settings.gcp is not None
        p = _region_prices(prices, "gcp", settings.gcp.region)
        items, notes = _gcp(settings, p)
        region = settings.gcp.region
    else:
        items, notes, region = [], _local_notes(traffic), None
    if settings.cloud in ("aws", "gcp"):
        # What monitoring and requestsPerReplica add (nothing without them).
        watch = aws_monitoring if settings.cloud == "aws" else gcp_monitoring
        watch_items, watch_notes = watch(settings, p)
        items, notes = items + watch_items, notes + watch_notes
    result = Estimate(settings.stack, settings.cloud, region, items, notes)
    if traffic is None:
        return result
    container = result.monthly_usd
    serverless = None
    if settings.cloud == "aws":
        serverless = lambda_alternative(settings, p, traffic, container)
        # Per-request costs of the containers' own: on the bill, not in the break-even.
        items = items + aws_traffic(settings, p, traffic)
    elif settings.cloud == "gcp":
        serverless = cloud_run_alternative(p, traffic, container)
    return Estimate(
        result.stack, result.cloud, region, items, notes, serverless, traffic_requested=True
    )


def _money(x: float) -> str:
    return f"${x:,.2f}"


def _aws(s: Settings, p: _Prices) -> tuple[list[Item], list[str]]:
    assert s.aws is not None
    arm = s.platform == "linux/arm64"
    arch = "ARM/Graviton" if arm else "x86"
    suffix = "arm" if arm else "x86"
    vcpu = s.cpu / 1024
    gb = s.memory / 1024
    n = s.min_replicas
    h = p.hours
    alb_zones = max(DEFAULT_ALB_ZONES, len(set(s.aws.subnet_ids)))
    addresses = alb_zones + n
    items = [
        Item(
            f"Fargate vCPU, {arch} ({n} tasks x {vcpu:g} vCPU)",
            p.usd(f"fargate_vcpu_hour_{suffix}"),
            n * vcpu * h,
            "vCPU-hour",
        ),
        Item(
            f"Fargate memory, {arch} ({n} tasks x {gb:g} GB)",
            p.usd(f"fargate_gb_hour_{suffix}"),
            n * gb * h,
            "GB-hour",
        ),
        Item("Application Load Balancer", p.usd("alb_hour"), h, "ALB-hour"),
        Item(
            f"ALB capacity ({ASSUMED_ALB_LCUS} LCU on average)",
            p.usd("alb_lcu_hour"),
            ASSUMED_ALB_LCUS * h,
            "LCU-hour",
        ),
        Item(
            f"Public IPv4 addresses ({alb_zones} ALB zones + {n} tasks)",
            p.usd("public_ipv4_hour"),
            addresses * h,
            "address-hour",
        ),
        Item(
            f"ECR image storage (~{ASSUMED_IMAGE_GB:g} GB image)",
            p.usd("ecr_storage_gb_month"),
            ASSUMED_IMAGE_GB,
            "GB-month",
        ),
    ]
    items += _aws_model_storage(s, p)
    if s.aws.vpc_id:
        nat = (
            f"Existing VPC {s.aws.vpc_id}: its own NAT gateways, if any, bill to that VPC and are "
            "not counted here."
        )
    else:
        nat_month = p.usd("nat_gateway_hour") * h
        nat = (
            "No NAT gateway: tasks get public IPv4 addresses to pull from ECR (a NAT gateway "
            f"would add {_money(nat_month)}/month plus ${p.usd('nat_gateway_gb'):g}/GB)."
        )
    per_task = (
        vcpu * p.usd(f"fargate_vcpu_hour_{suffix}")
        + gb * p.usd(f"fargate_gb_hour_{suffix}")
        + p.usd("public_ipv4_hour")
    ) * h
    notes = [
        f"Always-on floor: minReplicas = {n}. The autoscaler may add tasks up to maxReplicas = "
        f"{s.max_replicas} under load; each extra task adds {_money(per_task)}/month while it "
        "runs.",
        nat,
        f"Traffic-dependent, not included: CloudWatch Logs ingestion "
        f"${p.usd('cloudwatch_logs_ingest_gb'):.2f}/GB and storage "
        f"${p.usd('cloudwatch_logs_storage_gb_month'):.2f}/GB-month (kept "
        f"{s.log_retention_days} days), data transfer out ${p.usd('data_transfer_out_gb'):.2f}/GB, "
        "and LCUs above the one assumed.",
        "Free tiers, not subtracted: new AWS accounts get 750 ALB-hours and 15 LCUs a month for "
        "12 months; ECR gives new customers 500 MB a month of private storage for 12 months. "
        "Fargate has no free tier (each task's first 20 GB of ephemeral storage is included).",
        "ECR keeps the newest few images (lifecycle policy); each pushed version adds its new "
        f"layers to the ~{ASSUMED_IMAGE_GB:g} GB assumed here.",
    ]
    if s.aws.container_insights:
        notes.append(
            "containerInsights is on: CloudWatch Container Insights bills its metrics as custom "
            "metrics (not priced here)."
        )
    if s.aws.certificate_arn:
        notes.append("HTTPS: public ACM certificates are free; the ALB price is the same.")
    if s.rollout_plan.shifts_traffic:
        notes.append(
            f"rollout {s.rollout_plan.strategy}: the second target group, the listener rule and "
            "ECS's role cost nothing (ALBs bill hours and LCUs); while a deploy bakes, the old "
            "and the new tasks both run, twice the tasks for those minutes (not priced)."
        )
    edge_items, edge_notes = _aws_edge(s, p)
    return items + edge_items, notes + edge_notes


def _aws_edge(s: Settings, p: _Prices) -> tuple[list[Item], list[str]]:
    """The public edge's AWS charges: WAF web ACL and rules, the API keys' secret."""
    edge = s.edge
    items: list[Item] = []
    notes: list[str] = []
    if edge.web_acl:
        rules = int(edge.rate_limit_per_minute > 0) + int(edge.managed_rules)
        items += [
            Item("WAF web ACL", p.usd("waf_web_acl_month"), 1, "web ACL-month"),
            Item(f"WAF rules ({rules})", p.usd("waf_rule_month"), rules, "rule-month"),
        ]
        notes.append(
            f"Traffic-dependent, not included: WAF inspects every request at "
            f"${p.usd('waf_request_million'):.2f} per million (blocked ones too)."
        )
    if edge.has_api_keys:
        items.append(
            Item(
                "Secrets Manager secret (API keys)",
                p.usd("secrets_manager_secret_month"),
                1,
                "secret-month",
            )
        )
        notes.append(
            "Secrets Manager API calls: ECS reads the secret once per task start, at "
            f"${p.usd('secrets_manager_api_10k'):.2f} per 10,000 calls: cents at most."
        )
    if edge.domain:
        notes.append(
            "domain: public ACM certificates are free; Route 53 answers alias queries to a load "
            "balancer free of charge, and the hosted zone holding the domain is yours already."
        )
    return items, notes


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


def _aws_model_storage(s: Settings, p: _Prices) -> list[Item]:
    """Fargate bills task ephemeral storage over the included 20 GB; modelStorageGiB adds it."""
    gb = s.model.storage_gib
    if not gb:
        return []
    n = s.min_replicas
    return [
        Item(
            f"Fargate ephemeral storage over 20 GB ({n} tasks x {gb} GB for the model)",
            p.usd("fargate_ephemeral_storage_gb_hour"),
            n * gb * p.hours,
            "GB-hour",
        )
    ]


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


def _local_notes(traffic: Traffic | None) -> list[str]:
    notes = [
        "The local stack runs on this machine's Docker engine: no cloud resources and no cloud "
        "bill (only your own machine's power and disk)."
    ]
    if traffic is not None:
        notes.append(
            "No serverless comparison for the local stack: estimate the dev (AWS) or gcp stack "
            "with --requests-per-month to compare containers with serverless."
        )
    return notes


def lambda_alternative(
    settings: Settings, p: _Prices, traffic: Traffic, container_monthly_usd: float
) -> Serverless:
    """AWS Lambda behind a function URL serving `traffic`, priced per request and GB-second."""
    arm = settings.platform == "linux/arm64"
    arch = "arm64" if arm else "x86_64"
    gb = traffic.memory_mb / 1024
    # Lambda bills duration per 1 ms, rounded up.
    seconds = math.ceil(traffic.ms_per_request) / 1000
    n = traffic.requests_per_month
    price_gb_s = p.usd("lambda_gb_second_arm" if arm else "lambda_gb_second_x86")
    per_request = p.usd("lambda_request_million") / 1e6 + gb * seconds * price_gb_s
    items = [
        Item("Lambda requests", p.usd("lambda_request_million"), n / 1e6, "million requests"),
        Item(
            f"Lambda duration, {arch} ({traffic.memory_mb} MB x {seconds * 1000:g} ms)",
            price_gb_s,
            n * gb * seconds,
            "GB-second",
        ),
    ]
    apigw = p.usd("api_gateway_http_million") * n / 1e6
    notes = [
        "Behind a Lambda function URL, which has no charge of its own. Behind API Gateway "
        f"(HTTP API) instead: +${p.usd('api_gateway_http_million'):.2f} per million requests, "
        f"+{_money(apigw)}/month at this traffic.",
        "Lambda free tier, not subtracted: 1 million requests and 400,000 GB-seconds a month.",
        f"Assumed: every request runs {traffic.ms_per_request:g} ms at {traffic.memory_mb} MB "
        "(Lambda gives CPU in proportion to memory), no provisioned concurrency; cold starts "
        "add billed time.",
    ]
    return Serverless(
        f"AWS Lambda ({arch}) behind a function URL",
        p.region,
        n,
        traffic.ms_per_request,
        traffic.memory_mb,
        items,
        notes,
        container_monthly_usd,
        per_request,
    )


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


# --- Output ---------------------------------------------------------------------------------------


def _unit_price(x: float) -> str:
    text = f"{x:.10f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def _quantity(x: float) -> str:
    text = f"{x:,.4f}".rstrip("0").rstrip(".")
    return text or "0"


def _table(items: Sequence[Item], total_label: str, total: float) -> list[str]:
    headers = ("Item", "Unit price", "Quantity", "Unit", "Monthly")
    rows = [
        (
            i.name,
            _unit_price(i.unit_price_usd),
            _quantity(i.quantity),
            i.unit,
            _money(i.monthly_usd),
        )
        for i in items
    ]
    rows.append((total_label, "", "", "", _money(total)))
    widths = [max(len(r[c]) for r in [headers, *rows]) for c in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return (
            f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  "
            f"{r[3]:<{widths[3]}}  {r[4]:>{widths[4]}}"
        ).rstrip()

    rule = "-" * len(line(["-" * w for w in widths]))
    return [line(headers), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1])]


def _bullets(notes: Sequence[str]) -> list[str]:
    return [
        textwrap.fill(n, width=100, initial_indent="  - ", subsequent_indent="    ") for n in notes
    ]


def render(result: Estimate) -> str:
    """The estimate as a readable, aligned table with its notes."""
    where = f"{result.cloud}, {result.region}" if result.region else result.cloud
    out = [
        f"echo-service, stack {result.stack} ({where}): on-demand list prices, 730-hour month, "
        "free tiers not subtracted",
        "",
    ]
    if result.items:
        out += _table(result.items, "Total per month", result.monthly_usd)
    else:
        out.append(f"Total per month: {_money(0)}")
    out += ["", "Notes:", *_bullets(result.notes)]
    s = result.serverless
    if s is not None:
        cheaper = "containers" if s.monthly_usd > s.container_monthly_usd else s.service
        summary = [
            f"Containers (this stack): {_money(s.container_monthly_usd)}/month whatever the "
            f"traffic; serverless: {_money(s.cost_per_request_usd * 1e6)} per million requests.",
            f"Break-even: {s.break_even_requests_per_month:,} requests/month (about "
            f"{s.break_even_requests_per_month / (730 * 3600):,.1f} requests/second on average). "
            "Above it the containers are cheaper; below it serverless is.",
            f"At {s.requests_per_month:,} requests/month the cheaper is: {cheaper}.",
        ]
        out += [
            "",
            textwrap.fill(
                f"Serverless alternative: {s.service}, {s.region}, at {s.requests_per_month:,} "
                f"requests/month ({s.ms_per_request:g} ms, {s.memory_mb} MB each)",
                width=100,
            ),
            "",
            *_table(s.items, "Serverless per month", s.monthly_usd),
            "",
            *(textwrap.fill(line, width=100) for line in summary),
            "",
            "Serverless notes:",
            *_bullets(
                [
                    *s.notes,
                    "The container bill is for minReplicas replicas; traffic that needs more "
                    "replicas (up to maxReplicas) raises it and moves the break-even up.",
                ]
            ),
        ]
    return "\n".join(out)


# --- Command line ---------------------------------------------------------------------------------


def _non_negative_count(text: str) -> int:
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of requests, not {text!r}") from None
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise argparse.ArgumentTypeError(
            f"must be a whole number of requests, 0 or more, not {text!r}"
        )
    return int(value)


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number of milliseconds, not {text!r}"
        ) from None
    if not math.isfinite(value) or not 0 < value <= LAMBDA_MAX_MS:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {LAMBDA_MAX_MS} ms (Lambda's 15-minute limit), "
            f"not {text!r}"
        )
    return value


def _memory_mb(text: str) -> int:
    low, high = LAMBDA_MEMORY_MB
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of MB, not {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(
            f"must be from {low} to {high} MB (Lambda's memory range), not {text!r}"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.estimate",
        description="Monthly cost of a stack at public on-demand list prices, offline, from the "
        "same settings `pulumi up` uses. Free tiers are noted, not subtracted.",
    )
    parser.add_argument("stack", metavar="STACK", help="a stack with a Pulumi.<STACK>.yaml here")
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")
    parser.add_argument(
        "--requests-per-month",
        type=_non_negative_count,
        metavar="N",
        help="also price the serverless alternative (Lambda or Cloud Run) at N requests/month, "
        "and the break-even traffic",
    )
    parser.add_argument(
        "--ms-per-request",
        type=_milliseconds,
        metavar="MS",
        help=f"serverless: time to serve one request (default {DEFAULT_MS_PER_REQUEST:g})",
    )
    parser.add_argument(
        "--memory-mb",
        type=_memory_mb,
        metavar="MB",
        help=f"serverless: memory per function or instance (default {DEFAULT_MEMORY_MB})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (0, or 2 when nothing could be priced)."""
    parser = _parser()
    args = parser.parse_args(argv)
    known = stack_names()
    if args.stack not in known:
        parser.error(
            f"argument STACK: no stack file Pulumi.{args.stack}.yaml; the stacks here are: "
            f"{', '.join(known)}"
        )
    traffic = None
    if args.requests_per_month is None:
        for flag, value in (
            ("--ms-per-request", args.ms_per_request),
            ("--memory-mb", args.memory_mb),
        ):
            if value is not None:
                parser.error(f"argument {flag}: only applies with --requests-per-month")
    else:
        traffic = Traffic(
            args.requests_per_month,
            DEFAULT_MS_PER_REQUEST if args.ms_per_request is None else args.ms_per_request,
            DEFAULT_MEMORY_MB if args.memory_mb is None else args.memory_mb,
        )
    try:
        result = estimate(load_stack_settings(args.stack), traffic=traffic)
    except EstimateError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(result.as_dict(), indent=2) if args.json else render(result), flush=True)
    except BrokenPipeError:
        # Piped into `head` and the like: the reader has what it wanted; no traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
