"""The gcp target's eyes (`monitoring`): Managed Service for Prometheus scrapes the endpoint's
metrics (a PodMonitoring), Cloud Monitoring alerts on them (PromQL alert policies, an email
channel from `alertEmail`), checks the public URL from outside (an uptime check), and shows a
dashboard.

Managed collection is on by default on Autopilot and on Standard from GKE 1.27; with monitoring the
cluster asks for it explicitly, together with GKE's kube-state-metrics package for Deployments
(`DEPLOYMENT`), which the "running below desired" policy reads. The cluster is this stack's own, so
its list of monitored components is the stack's to choose.

Scaling stays on CPU: an HPA on a Prometheus metric needs an adapter the user installs and
authorises by hand (prometheus-adapter or the custom-metrics Stackdriver adapter), and GKE's native
custom-metrics autoscaling was a Rapid-channel preview (GKE 1.35.1+) when this was written; see
docs/watching.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.gcp.labels import gcp_label_value
from infra.observability import (
    ALARM_MINUTES,
    CAPACITY_ALARM_MINUTES,
    IN_FLIGHT,
    INFERENCE_SECONDS,
    METRICS_PATH,
    METRICS_PORT_NAME,
    MODEL_INFO,
    PREDICT_PATH,
    QUEUE_REJECTED,
    QUEUE_WAITING,
    REQUEST_SECONDS,
    REQUESTS_TOTAL,
    SCRAPE_INTERVAL,
    UPTIME_PERIOD,
    UPTIME_REGIONS,
)
from infra.settings import READINESS_PATH, Settings

PODMONITORING_API_VERSION = "monitoring.googleapis.com/v1"
SCRAPE_TIMEOUT = "10s"
# The GKE components whose metrics the cluster sends with monitoring: the system components
# (GKE's default, required whenever components are listed) and kube-state-metrics for
# Deployments (kube_deployment_spec_replicas, kube_deployment_status_replicas_available).
MONITORING_COMPONENTS = ("SYSTEM_COMPONENTS", "DEPLOYMENT")
UPTIME_TIMEOUT = "10s"
# The uptime check's alert: its pass/fail metric, the window each region's latest result is read
# in (longer than UPTIME_PERIOD, so every region has one), and more than this many regions failing.
UPTIME_METRIC = "monitoring.googleapis.com/uptime_check/check_passed"
UPTIME_ALIGNMENT = "1200s"
UPTIME_FAILED_REGIONS = 1
UPTIME_ALERT_DURATION = "60s"
EVALUATION_INTERVAL = "60s"
# Cloud Monitoring dashboards lay tiles on a 48-column grid.
DASHBOARD_COLUMNS = 48
TILE_WIDTH, TILE_HEIGHT = 24, 16


def cluster_monitoring_config() -> gcp.container.ClusterMonitoringConfigArgs:
    """The cluster's monitoring with `monitoring`: managed collection on, Deployment metrics."""
    return gcp.container.ClusterMonitoringConfigArgs(
        enable_components=list(MONITORING_COMPONENTS),
        managed_prometheus=gcp.container.ClusterMonitoringConfigManagedPrometheusArgs(enabled=True),
    )


def pod_monitoring(
    parent: pulumi.ComponentResource,
    name: str,
    k8s_provider: k8s.Provider,
    namespace: pulumi.Input[str],
    workload_name: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
) -> k8s.apiextensions.CustomResource:
    """The PodMonitoring that has Managed Service for Prometheus scrape the endpoint's Pods.

    The port is named (`metrics`), so the `container` target label is set; it is a port of its
    own, which the LoadBalancer Service does not expose.
    """
    return k8s.apiextensions.CustomResource(
        f"{name}-podmonitoring",
        api_version=PODMONITORING_API_VERSION,
        kind="PodMonitoring",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=workload_name, namespace=namespace, labels=dict(labels)
        ),
        spec=pod_monitoring_spec(selector),
        opts=pulumi.ResourceOptions(parent=parent, provider=k8s_provider),
    )


def pod_monitoring_spec(selector: Mapping[str, str]) -> dict[str, Any]:
    """The PodMonitoring's spec (monitoring.googleapis.com/v1)."""
    return {
        "selector": {"matchLabels": dict(selector)},
        "endpoints": [
            {
                "port": METRICS_PORT_NAME,
                "path": METRICS_PATH,
                "interval": SCRAPE_INTERVAL,
                "timeout": SCRAPE_TIMEOUT,
            }
        ],
    }


def queries(settings: Settings, namespace: str, cluster: str, job: str) -> dict[str, str]:
    """The alert policies' PromQL, by condition. Each aggregates to one series (billed per series).

    Managed Prometheus labels every scraped sample with `cluster`, `namespace` and `job` (the
    PodMonitoring's name); queries are project-wide, so they filter on all three.
    """
    app = f'cluster="{cluster}",namespace="{namespace}",job="{job}"'
    ksm = f'cluster="{cluster}",namespace="{namespace}",deployment="{job}"'
    # Only the endpoint's own answers: the probes' 200s (kubelet's every few seconds, the load
    # balancer's, the uptime check's) would otherwise hide a /predict that fails every call.
    predict = f'{app},path="{PREDICT_PATH}"'
    window = f"{ALARM_MINUTES}m"
    # The thresholds are the aws deployment alarms' settings (alarmErrorPercent, alarmLatencyMs).
    watch = settings.observability
    return {
        "5xx rate": (
            f'100 * sum(rate({REQUESTS_TOTAL}{{{predict},status=~"5.."}}[{window}])) '
            f"/ sum(rate({REQUESTS_TOTAL}{{{predict}}}[{window}])) > {watch.alarm_error_percent:g}"
        ),
        "p99 latency": (
            f"histogram_quantile(0.99, sum by (le) "
            f"(rate({REQUEST_SECONDS}_bucket{{{predict}}}[{window}]))) > "
            f"{watch.alarm_latency_ms / 1000:g}"
        ),
        # Ready replicas (a Deployment's available replicas are its ready Pods: minReadySeconds
        # is 0), not Pods whose metrics port answers, which a replica that cannot load its model
        # still does; `or vector(0)` so that none at all still alerts.
        "healthy replicas below minReplicas": (
            f"(max(kube_deployment_status_replicas_available{{{ksm}}}) or vector(0)) "
            f"< {settings.min_replicas}"
        ),
        "running below desired": (
            f"max(kube_deployment_spec_replicas{{{ksm}}}) "
            f"- max(kube_deployment_status_replicas_available{{{ksm}}}) > 0"
        ),
    }


def alerting(
    parent: pulumi.ComponentResource,
    name: str,
    provider: gcp.Provider,
    settings: Settings,
    namespace: pulumi.Output[str],
    cluster: pulumi.Output[str],
    job: str,
    url: pulumi.Output[str],
    monitoring_api: pulumi.Resource | None = None,
) -> list[gcp.monitoring.AlertPolicy]:
    """The email channel, the four alert policies, the uptime check and the dashboard, once the
    Cloud Monitoring API (`monitoring_api`) is on."""
    on_gcp = pulumi.ResourceOptions(
        parent=parent, provider=provider, depends_on=[monitoring_api] if monitoring_api else None
    )
    channels: list[pulumi.Input[str]] = []
    if settings.observability.alert_email:
        channel = gcp.monitoring.NotificationChannel(
            f"{name}-email",
            type="email",
            display_name=f"{settings.name} alerts",
            labels={"email_address": settings.observability.alert_email},
            opts=on_gcp,
        )
        channels.append(channel.name)

    promql = pulumi.Output.all(namespace, cluster).apply(
        lambda args: queries(settings, args[0], args[1], job)
    )
    policies = []
    for condition in (
        "5xx rate",
        "p99 latency",
        "healthy replicas below minReplicas",
        "running below desired",
    ):
        minutes = CAPACITY_ALARM_MINUTES if condition == "running below desired" else ALARM_MINUTES
        slug = condition.split(" ")[0].lower().replace("5xx", "errors")
        policies.append(
            gcp.monitoring.AlertPolicy(
                f"{name}-alert-{slug}",
                display_name=f"{settings.name}: {condition}",
                combiner="OR",
                conditions=[
                    gcp.monitoring.AlertPolicyConditionArgs(
                        display_name=condition,
                        condition_prometheus_query_language=(
                            gcp.monitoring.AlertPolicyConditionConditionPrometheusQueryLanguageArgs(
                                query=promql.apply(lambda q, c=condition: q[c]),
                                duration=f"{minutes * 60}s",
                                evaluation_interval=EVALUATION_INTERVAL,
                                # Cloud Monitoring refuses a PromQL condition on a metric it has
                                # not seen yet, unless validation is off; on a new project no
                                # metric exists before the first scrape, after the Pods start.
                                disable_metric_validation=True,
                            )
                        ),
                    )
                ],
                notification_channels=channels,
                documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                    content=(
                        f"{condition} for {minutes} minutes on {settings.name}. "
                        "See the stack's dashboard and `make logs STACK=<stack>`."
                    ),
                    mime_type="text/markdown",
                ),
                # Cloud Monitoring user labels: lowercase letters, digits, `_` and `-` only.
                user_labels={"stack": gcp_label_value(settings.stack)},
                opts=on_gcp,
            )
        )

    # The public address, once the load balancer has one (empty in a first preview), or the
    # domain over HTTPS when `domain` is set.
    host = url.apply(lambda u: u.removeprefix("http://").removeprefix("https://"))
    https = bool(settings.edge.domain)
    uptime = gcp.monitoring.UptimeCheckConfig(
        f"{name}-uptime",
        display_name=f"{settings.name} readiness",
        timeout=UPTIME_TIMEOUT,
        period=UPTIME_PERIOD,
        selected_regions=list(UPTIME_REGIONS),
        http_check=gcp.monitoring.UptimeCheckConfigHttpCheckArgs(
            path=READINESS_PATH,
            port=443 if https else 80,
            request_method="GET",
            use_ssl=https,
            validate_ssl=https,
        ),
        monitored_resource=gcp.monitoring.UptimeCheckConfigMonitoredResourceArgs(
            type="uptime_url",
            labels={"project_id": settings.gcp.project, "host": host},
        ),
        opts=on_gcp,
    )
    policies.append(uptime_alert(name, settings, uptime, channels, on_gcp))
    gcp.monitoring.Dashboard(
        f"{name}-dashboard",
        dashboard_json=pulumi.Output.all(namespace, cluster).apply(
            lambda args: json.dumps(dashboard_body(settings, args[0], args[1], job))
        ),
        opts=on_gcp,
    )
    return policies


def uptime_filter(check_id: str) -> str:
    """The Cloud Monitoring filter of one uptime check's pass/fail results."""
    return (
        f'metric.type="{UPTIME_METRIC}" AND metric.label.check_id="{check_id}" '
        'AND resource.type="uptime_url"'
    )


def uptime_alert(
    name: str,
    settings: Settings,
    uptime: gcp.monitoring.UptimeCheckConfig,
    channels: list[pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> gcp.monitoring.AlertPolicy:
    """An alert when the public URL fails its uptime check from more than one region.

    The condition is the one Cloud Monitoring's console makes for an uptime check (Cloud
    Monitoring docs, "Create alerting policies for uptime checks"): each region's latest result
    (ALIGN_NEXT_OLDER), the regions whose check failed counted (REDUCE_COUNT_FALSE), above one.
    One region failing is often that region's network, not the endpoint.
    """
    condition = "public URL failing its uptime check"
    return gcp.monitoring.AlertPolicy(
        f"{name}-alert-uptime",
        display_name=f"{settings.name}: {condition}",
        combiner="OR",
        conditions=[
            gcp.monitoring.AlertPolicyConditionArgs(
                display_name=condition,
                condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                    filter=uptime.uptime_check_id.apply(uptime_filter),
                    aggregations=[
                        gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                            alignment_period=UPTIME_ALIGNMENT,
                            per_series_aligner="ALIGN_NEXT_OLDER",
                            cross_series_reducer="REDUCE_COUNT_FALSE",
                            group_by_fields=["resource.label.*"],
                        )
                    ],
                    comparison="COMPARISON_GT",
                    threshold_value=UPTIME_FAILED_REGIONS,
                    duration=UPTIME_ALERT_DURATION,
                    trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(
                        count=1
                    ),
                ),
            )
        ],
        notification_channels=channels,
        documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
            content=(
                f"The public URL of {settings.name} failed its readiness check from more than "
                "one region. See the stack's dashboard and `make logs STACK=<stack>`."
            ),
            mime_type="text/markdown",
        ),
        user_labels={"stack": gcp_label_value(settings.stack)},
        opts=opts,
    )


def dashboard_body(settings: Settings, namespace: str, cluster: str, job: str) -> dict[str, Any]:
    """A Cloud Monitoring dashboard (mosaic layout) of PromQL charts."""
    app = f'cluster="{cluster}",namespace="{namespace}",job="{job}"'
    ksm = f'cluster="{cluster}",namespace="{namespace}",deployment="{job}"'
    system = f'monitored_resource="k8s_container",namespace_name="{namespace}"'
    charts: list[tuple[str, list[str]]] = [
        ("Requests a second by status", [f"sum by (status) (rate({REQUESTS_TOTAL}{{{app}}}[5m]))"]),
        (
            "4xx and 5xx a second",
            [
                f'sum(rate({REQUESTS_TOTAL}{{{app},status=~"4.."}}[5m]))',
                f'sum(rate({REQUESTS_TOTAL}{{{app},status=~"5.."}}[5m]))',
            ],
        ),
        (
            "Request latency p50 and p99 (s)",
            [
                f"histogram_quantile({q}, sum by (le) "
                f"(rate({REQUEST_SECONDS}_bucket{{{app}}}[5m])))"
                for q in ("0.5", "0.99")
            ],
        ),
        (
            "Model inference p50 and p99 (s)",
            [
                f"histogram_quantile({q}, sum by (le) "
                f"(rate({INFERENCE_SECONDS}_bucket{{{app}}}[5m])))"
                for q in ("0.5", "0.99")
            ],
        ),
        (
            "In flight, waiting and refused",
            [
                f"sum({IN_FLIGHT}{{{app}}})",
                f"sum({QUEUE_WAITING}{{{app}}})",
                f"sum(rate({QUEUE_REJECTED}{{{app}}}[5m]))",
            ],
        ),
        (
            "Replicas: answering, available, desired",
            [
                f"sum(up{{{app}}})",
                f"max(kube_deployment_status_replicas_available{{{ksm}}})",
                f"max(kube_deployment_spec_replicas{{{ksm}}})",
            ],
        ),
        (
            "CPU (cores) and memory (bytes)",
            [
                f"sum(rate(kubernetes_io:container_cpu_core_usage_time{{{system}}}[5m]))",
                f'sum(kubernetes_io:container_memory_used_bytes{{{system},memory_type="non-evictable"}})',
            ],
        ),
        ("Model version", [f"max by (version) ({MODEL_INFO}{{{app}}})"]),
    ]
    tiles = []
    for index, (title, promql) in enumerate(charts):
        # A position of 0 is left out: the API omits zero-valued fields when it returns the
        # dashboard, and provider versions that compare the JSON as sent would show a diff on
        # every preview for a tile that says `"xPos": 0`.
        position = {
            key: value
            for key, value in (
                ("xPos", (index % 2) * TILE_WIDTH),
                ("yPos", (index // 2) * TILE_HEIGHT),
            )
            if value
        }
        tiles.append(
            {
                **position,
                "width": TILE_WIDTH,
                "height": TILE_HEIGHT,
                "widget": {
                    "title": title,
                    "xyChart": {
                        "dataSets": [
                            {"timeSeriesQuery": {"prometheusQuery": q}, "plotType": "LINE"}
                            for q in promql
                        ]
                    },
                },
            }
        )
    return {
        "displayName": settings.name,
        "mosaicLayout": {"columns": DASHBOARD_COLUMNS, "tiles": tiles},
    }
