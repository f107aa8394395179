"""What `monitoring` and `requestsPerReplica` add to a stack's monthly estimate (issue 14).

Part of `infra.estimate`, from the same price file. Fixed costs are items of the stack's bill;
what grows with traffic (the EMF log lines on aws) is an item only when the traffic is given
(`--requests-per-month`), and is left out of the serverless break-even, which compares fixed
bills with per-request ones.
"""

from __future__ import annotations

from infra.estimate.items import Item, Traffic
from infra.estimate.prices import _Prices
from infra.observability import SCRAPE_INTERVAL, UPTIME_PERIOD, UPTIME_REGIONS
from infra.settings import Settings

# aws: the alarms and how many metrics each reads (CloudWatch bills standard alarms per metric):
# 5xx rate (metric math on two), p99 latency (one), healthy targets (one), and with Container
# Insights running vs desired (two). Target tracking creates two alarms of its own per policy.
AWS_ALARM_METRICS = {"5xx rate": 2, "p99 latency": 1, "healthy targets": 1}
AWS_INSIGHTS_ALARM_METRICS = {"running below desired": 2}
# rollout canary or linear: the 5xx-rate and p99 alarms once more, on the second target group.
AWS_ROLLOUT_ALARM_METRICS = {"5xx rate (2nd target group)": 2, "p99 latency (2nd target group)": 1}
TARGET_TRACKING_ALARMS = 2
# One EMF metric (ModelInferenceTime) with one dimension value (the stack's Service): one metric.
EMF_CUSTOM_METRICS = 1
# Bytes one request's JSON access line with its EMF block takes in CloudWatch Logs, with the 26
# bytes CloudWatch adds per event: an upper bound for what EMF adds, as if the app wrote no access
# line without it. GB here is 10^9 bytes.
ASSUMED_EMF_LINE_BYTES = 400

# gcp: series the endpoint exposes per replica (app/metrics.py): two histograms of 14 bounds, so
# 17 series a label set (15 buckets, sum, count): request latency for its 4 paths and "other" (85)
# and model latency (17); requests by path, method and status (~10 seen); five gauges and
# counters and model_info (6); and `up` and its like that Managed Prometheus adds (~5). About 125.
ASSUMED_APP_SERIES_PER_REPLICA = 125
# GKE's kube-state-metrics for Deployments (the DEPLOYMENT package) covers every Deployment in the
# cluster, system ones too: assumed 50 series, scraped every 30 s.
ASSUMED_KSM_SERIES = 50
KSM_SCRAPE_SECONDS = 30
# The four PromQL conditions and the uptime check's (infra/gcp/monitoring.py).
GCP_ALERT_CONDITIONS = 5
# Each condition aggregates to at most one series, evaluated once a minute.
ALERT_SERIES_PER_EVALUATION = 1
# Checkers per uptime-check region: USA has three, the others one each.
UPTIME_CHECKERS = {"USA": 3, "EUROPE": 1, "SOUTH_AMERICA": 1, "ASIA_PACIFIC": 1}


def _seconds(duration: str) -> int:
    return int(duration.removesuffix("s"))


def aws_monitoring(settings: Settings, p: _Prices) -> tuple[list[Item], list[str]]:
    """Fixed monthly items of `monitoring` and `requestsPerReplica` on aws."""
    o = settings.observability
    items: list[Item] = []
    notes: list[str] = []
    if o.monitoring:
        alarms = dict(AWS_ALARM_METRICS)
        if settings.aws.container_insights:
            alarms.update(AWS_INSIGHTS_ALARM_METRICS)
        if settings.rollout_plan.shifts_traffic:
            alarms.update(AWS_ROLLOUT_ALARM_METRICS)
        metrics = sum(alarms.values())
        items += [
            Item(
                f"CloudWatch alarms ({len(alarms)} alarms reading {metrics} metrics)",
                p.usd("cloudwatch_alarm_metric_month"),
                metrics,
                "alarm metric-month",
            ),
            Item("CloudWatch dashboard", p.usd("cloudwatch_dashboard_month"), 1, "dashboard-month"),
            Item(
                "CloudWatch custom metric: the model's latency from EMF log lines",
                p.usd("cloudwatch_custom_metric_month"),
                EMF_CUSTOM_METRICS,
                "metric-month",
            ),
        ]
        per_million = ASSUMED_EMF_LINE_BYTES * 1e6 / 1e9 * p.usd("cloudwatch_logs_ingest_gb")
        notes += [
            "monitoring: the first 3 dashboards and 10 alarm metrics of an account are free "
            "(not subtracted). The ALB and ECS metrics the alarms read are free.",
            f"monitoring: each request writes one EMF log line (~{ASSUMED_EMF_LINE_BYTES} bytes "
            f"assumed), ${per_million:.2f} of CloudWatch Logs ingestion per million requests; "
            "priced with --requests-per-month.",
        ]
        if o.alert_email:
            notes.append("alertEmail: SNS email is free for the first 1,000 notifications a month.")
    if o.requests_per_replica:
        items.append(
            Item(
                "Target tracking alarms for requestsPerReplica (created by Application Auto "
                "Scaling)",
                p.usd("cloudwatch_alarm_metric_month"),
                TARGET_TRACKING_ALARMS,
                "alarm metric-month",
            )
        )
    return items, notes


def aws_traffic(settings: Settings, p: _Prices, traffic: Traffic) -> list[Item]:
    """Items that grow with traffic: the EMF log lines' ingestion, with monitoring."""
    if not settings.observability.monitoring:
        return []
    gb = traffic.requests_per_month * ASSUMED_EMF_LINE_BYTES / 1e9
    return [
        Item(
            f"CloudWatch Logs ingestion of EMF request lines ({traffic.requests_per_month:,} x "
            f"~{ASSUMED_EMF_LINE_BYTES} bytes)",
            p.usd("cloudwatch_logs_ingest_gb"),
            gb,
            "GB",
        )
    ]


def gcp_monitoring(settings: Settings, p: _Prices) -> tuple[list[Item], list[str]]:
    """Fixed monthly items of `monitoring` on gcp."""
    if not settings.observability.monitoring:
        return [], []
    seconds = p.hours * 3600
    n = settings.min_replicas
    app_samples = n * ASSUMED_APP_SERIES_PER_REPLICA * seconds / _seconds(SCRAPE_INTERVAL)
    ksm_samples = ASSUMED_KSM_SERIES * seconds / KSM_SCRAPE_SECONDS
    evaluations = seconds / 60
    checkers = sum(UPTIME_CHECKERS[r] for r in UPTIME_REGIONS)
    executions = checkers * seconds / _seconds(UPTIME_PERIOD)
    items = [
        Item(
            f"Managed Prometheus: the endpoint's metrics ({n} replicas x "
            f"~{ASSUMED_APP_SERIES_PER_REPLICA} series, one sample a minute)",
            p.usd("prometheus_samples_million"),
            app_samples / 1e6,
            "million samples",
        ),
        Item(
            f"Managed Prometheus: Deployment metrics (~{ASSUMED_KSM_SERIES} series every "
            f"{KSM_SCRAPE_SECONDS} s)",
            p.usd("prometheus_samples_million"),
            ksm_samples / 1e6,
            "million samples",
        ),
        Item(
            f"Alerting: {GCP_ALERT_CONDITIONS} conditions (PromQL, and the uptime check's)",
            p.usd("alert_condition_month"),
            GCP_ALERT_CONDITIONS,
            "condition-month",
        ),
        Item(
            "Alerting: series the conditions return (at most one each a minute)",
            p.usd("alert_time_series_million"),
            GCP_ALERT_CONDITIONS * ALERT_SERIES_PER_EVALUATION * evaluations / 1e6,
            "million series",
        ),
        Item(
            f"Uptime check ({checkers} checkers every {_seconds(UPTIME_PERIOD) // 60} min)",
            p.usd("uptime_check_thousand"),
            executions / 1e3,
            "thousand executions",
        ),
    ]
    notes = [
        "monitoring: uptime checks' first million executions a month per project are free, "
        "which covers this one (not subtracted); dashboards, email notification channels and "
        "GKE's system metrics (CPU, memory) cost nothing.",
        f"monitoring: the sample counts assume ~{ASSUMED_APP_SERIES_PER_REPLICA} series per "
        "replica; each replica the autoscaler adds adds its samples while it runs.",
    ]
    return items, notes
