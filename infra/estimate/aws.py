"""What an aws stack costs (Fargate, the ALB, ECR, the edge, the model's storage), and AWS
Lambda as its serverless alternative."""

from __future__ import annotations

import math

from infra.estimate.items import Item, Serverless, Traffic, _money
from infra.estimate.prices import ASSUMED_IMAGE_GB, _Prices
from infra.settings import Settings

# The default design's new VPC has public subnets in two availability zones, and the ALB has a
# node (and a public IPv4 address) in each. Source: Pulumi.yaml, vpcId ("a new VPC with two
# public subnets and no NAT gateway").
DEFAULT_ALB_ZONES = 2
# One load-balancer capacity unit: a light service averages at most this (25 new connections/s,
# 3,000 active connections/min, 1 GB/h or 1,000 rule evaluations/s, whichever is highest).
ASSUMED_ALB_LCUS = 1
# Lambda's configurable memory and maximum duration. Source: AWS Lambda quotas.
LAMBDA_MEMORY_MB = (128, 10240)
LAMBDA_MAX_MS = 900_000


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
