"""The gcp target's eyes (`monitoring`, `alertEmail`, `metricsPort`, `logFormat`) under mocks:
Managed Service for Prometheus's PodMonitoring, the cluster's monitoring config, PromQL alert
policies, the email channel, the uptime check and the dashboard.

PromQL is parsed with `promql-parser` (the Rust parser's Python bindings); the PodMonitoring is
validated against the v1 schema transcribed below from the CRD GKE installs.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import jsonschema
import kubernetes_validate
import promql_parser
import pytest

from app import metrics
from infra.estimate.monitoring import GCP_ALERT_CONDITIONS
from infra.observability import (
    IN_FLIGHT,
    INFERENCE_SECONDS,
    MODEL_INFO,
    PREDICT_PATH,
    QUEUE_REJECTED,
    QUEUE_WAITING,
    REQUEST_SECONDS,
    REQUESTS_TOTAL,
)
from tests.harness import Rendered
from tests.infra import fakes
from tests.infra.test_gcp import (
    CLUSTER,
    DEPLOYMENT,
    HPA,
    K8S_VERSIONS,
    SELECTOR,
    SERVICE,
    container,
    manifest,
    plain,
    render,
)

PODMONITORING = "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
MONITORING_TYPES = (PODMONITORING, CHANNEL, POLICY, UPTIME, DASHBOARD)

ON = {"monitoring": True}
FULL = {"monitoring": True, "alertEmail": "ops@example.com"}

# What the queries may read: the app's metrics (infra.observability, the runtime's contract),
# Prometheus's own `up`, GKE's kube-state-metrics for Deployments (the DEPLOYMENT package) and
# GKE's free system metrics as PromQL names them. Sources: GKE docs, "Configure collection of
# kube state metrics" (kube_deployment_spec_replicas, kube_deployment_status_replicas_available);
# Cloud Monitoring docs, "PromQL for Cloud Monitoring metrics" (kubernetes.io/container/... as
# kubernetes_io:container_..., with the monitored_resource label).
KNOWN_METRICS = {
    REQUESTS_TOTAL,
    f"{REQUEST_SECONDS}_bucket",
    f"{INFERENCE_SECONDS}_bucket",
    IN_FLIGHT,
    QUEUE_WAITING,
    QUEUE_REJECTED,
    MODEL_INFO,
    "up",
    "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas_available",
    "kubernetes_io:container_cpu_core_usage_time",
    "kubernetes_io:container_memory_used_bytes",
}

# PodMonitoring v1's spec, transcribed from the CRD in GoogleCloudPlatform/prometheus-engine
# (charts/operator/crds/monitoring.googleapis.com_podmonitorings.yaml): endpoints (1-10, each
# with a port name or number and an interval; timeout no longer than interval) and a selector are
# required; unknown fields are pruned by the API server, so they are refused here.
PROMETHEUS_DURATION = (
    r"^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$"
)
SELECTOR_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {"type": "array"},
    },
}
ENDPOINT_FIELDS = (
    "authorization", "basicAuth", "interval", "metricRelabeling", "oauth2", "params", "path",
    "port", "proxyUrl", "scheme", "timeout", "tls",
)  # fmt: skip
PODMONITORING_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.googleapis.com/v1"},
        "kind": {"const": "PodMonitoring"},
        "metadata": {"type": "object", "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "required": ["endpoints", "selector"],
            "additionalProperties": False,
            "properties": {
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 10,
                    "items": {
                        "type": "object",
                        "required": ["interval", "port"],
                        "additionalProperties": False,
                        "properties": {
                            **{field: {} for field in ENDPOINT_FIELDS},
                            "port": {
                                "anyOf": [
                                    {"type": "integer", "minimum": 1},
                                    {"type": "string", "minLength": 1, "maxLength": 253},
                                ]
                            },
                            "interval": {"type": "string", "pattern": PROMETHEUS_DURATION},
                            "timeout": {"type": "string", "pattern": PROMETHEUS_DURATION},
                            "path": {"type": "string"},
                            "scheme": {"enum": ["http", "https"]},
                        },
                    },
                },
                "selector": SELECTOR_SCHEMA,
                "filterRunning": {"type": "boolean"},
                "limits": {"type": "object"},
                "targetLabels": {"type": "object"},
            },
        },
    },
}

# A Cloud Monitoring dashboard's JSON (the Dashboards API's Dashboard resource: displayName and a
# mosaicLayout of at most 48 columns whose tiles hold widgets; an xyChart's dataSets each take a
# timeSeriesQuery, here its prometheusQuery).
DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["displayName", "mosaicLayout"],
    "additionalProperties": False,
    "properties": {
        "displayName": {"type": "string", "minLength": 1},
        "mosaicLayout": {
            "type": "object",
            "required": ["tiles"],
            "additionalProperties": False,
            "properties": {
                "columns": {"type": "integer", "minimum": 1, "maximum": 48},
                "tiles": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["width", "height", "widget"],
                        "additionalProperties": False,
                        "properties": {
                            "xPos": {"type": "integer", "minimum": 0},
                            "yPos": {"type": "integer", "minimum": 0},
                            "width": {"type": "integer", "minimum": 1, "maximum": 48},
                            "height": {"type": "integer", "minimum": 1},
                            "widget": {
                                "type": "object",
                                "required": ["title", "xyChart"],
                                "additionalProperties": False,
                                "properties": {
                                    "title": {"type": "string"},
                                    "xyChart": {
                                        "type": "object",
                                        "required": ["dataSets"],
                                        "properties": {
                                            "dataSets": {
                                                "type": "array",
                                                "minItems": 1,
                                                "items": {
                                                    "type": "object",
                                                    "required": ["timeSeriesQuery"],
                                                    "additionalProperties": False,
                                                    "properties": {
                                                        "timeSeriesQuery": {
                                                            "type": "object",
                                                            "required": ["prometheusQuery"],
                                                            "additionalProperties": False,
                                                            "properties": {
                                                                "prometheusQuery": {
                                                                    "type": "string"
                                                                }
                                                            },
                                                        },
                                                        "plotType": {
                                                            "enum": [
                                                                "LINE",
                                                                "STACKED_AREA",
                                                                "STACKED_BAR",
                                                                "HEATMAP",
                                                            ]
                                                        },
                                                    },
                                                },
                                            }
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


@functools.cache
def _render(mode: str, key: str) -> Rendered:
    return render(mode, **json.loads(key))


def rendered(overrides: dict[str, Any] | None = None, mode: str = "autopilot") -> Rendered:
    return _render(mode, json.dumps(overrides or {}, sort_keys=True))


def metric_names(query: str) -> set[str]:
    """Every metric a PromQL query selects, read from the parsed expression's text."""
    promql_parser.parse(query)  # raises ValueError on a query Cloud Monitoring would refuse
    selectors = re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", query)
    return set(selectors) - {"by", "without"}


def promql_policies(r: Rendered) -> list[Any]:
    return [
        res
        for res in r.of_type(POLICY)
        if "conditionPrometheusQueryLanguage" in res.inputs["conditions"][0]
    ]


def policy_queries(r: Rendered) -> dict[str, str]:
    return {
        res.inputs["conditions"][0]["displayName"]: res.inputs["conditions"][0][
            "conditionPrometheusQueryLanguage"
        ]["query"]
        for res in promql_policies(r)
    }


# --- off by default ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["autopilot", "standard"])
def test_without_the_keys_nothing_changes(mode):
    r = rendered(mode=mode)
    for type_ in MONITORING_TYPES:
        assert not r.of_type(type_), type_
    assert "monitoringConfig" not in r.one(CLUSTER).inputs
    c = container(r)
    assert [p["name"] for p in c["ports"]] == ["http"]
    assert c["env"] == [{"name": "PORT", "value": "8080"}]


def test_log_format_json_alone_sets_only_log_format():
    r = rendered({"logFormat": "json"})
    assert container(r)["env"] == [
        {"name": "PORT", "value": "8080"},
        {"name": "LOG_FORMAT", "value": "json"},
    ]
    assert not r.of_type(PODMONITORING)


# --- scraping ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["autopilot", "standard"])
def test_cluster_turns_managed_collection_and_deployment_metrics_on(mode):
    config = rendered(ON, mode).one(CLUSTER).inputs["monitoringConfig"]
    assert config == {
        "enableComponents": ["SYSTEM_COMPONENTS", "DEPLOYMENT"],
        "managedPrometheus": {"enabled": True},
    }


def test_pod_monitoring_scrapes_the_named_metrics_port_of_the_endpoints_pods():
    r = rendered({**ON, "metricsPort": 9100})
    pm = manifest(r.one(PODMONITORING))
    jsonschema.validate(pm, PODMONITORING_SCHEMA)
    assert pm["metadata"]["namespace"] == "echo-service-gcp"
    assert pm["spec"]["selector"] == {"matchLabels": SELECTOR}
    template_labels = r.one(DEPLOYMENT).inputs["spec"]["template"]["metadata"]["labels"]
    assert SELECTOR.items() <= template_labels.items()
    (endpoint,) = pm["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    ports = {p["name"]: p["containerPort"] for p in container(r)["ports"]}
    assert ports == {"http": 8080, "metrics": 9100}
    env = {e["name"]: e["value"] for e in container(r)["env"]}
    assert env == {"PORT": "8080", "METRICS_PORT": "9100"}


def test_the_podmonitoring_schema_would_catch_a_misspelt_or_missing_field():
    pm = manifest(rendered(ON).one(PODMONITORING))
    pm["spec"]["endpoints"][0]["intreval"] = pm["spec"]["endpoints"][0].pop("interval")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(pm, PODMONITORING_SCHEMA)


def test_the_metrics_port_is_not_exposed_by_the_load_balancer_service():
    r = rendered(ON)
    ports = plain(r.one(SERVICE).inputs["spec"]["ports"])
    assert [(p["name"], p["targetPort"]) for p in ports] == [("http", "http")]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_the_deployment_with_metrics_is_still_valid_kubernetes(version):
    kubernetes_validate.validate(manifest(rendered(FULL).one(DEPLOYMENT)), version, strict=True)


def test_scaling_stays_on_cpu():
    metrics = plain(rendered(ON).one(HPA).inputs["spec"]["metrics"])
    assert [m["resource"]["name"] for m in metrics] == ["cpu"]


# --- alerting ------------------------------------------------------------------------------------


def test_four_alert_policies_in_valid_promql_on_known_metrics():
    r = rendered(FULL)
    queries = policy_queries(r)
    assert set(queries) == {
        "5xx rate",
        "p99 latency",
        "healthy replicas below minReplicas",
        "running below desired",
    }
    cluster = r.one(CLUSTER).outputs["name"]
    for condition, query in queries.items():
        assert metric_names(query) <= KNOWN_METRICS, condition
        # Project-wide queries: every selector names this stack's cluster and namespace.
        for selector in re.findall(r"\{([^}]*)\}", query):
            assert f'cluster="{cluster}"' in selector and 'namespace="echo-service-gcp"' in selector
    assert queries["5xx rate"].endswith("> 5")
    assert queries["p99 latency"].startswith("histogram_quantile(0.99,")
    assert queries["healthy replicas below minReplicas"].endswith("< 2")


def test_every_condition_is_accepted_before_its_metrics_exist():
    # On a new project no metric exists before the first scrape, and Cloud Monitoring refuses a
    # PromQL condition on a metric it has not seen unless metric validation is off (issue 17, 4).
    policies = promql_policies(rendered(FULL))
    assert len(policies) == 4
    for policy in policies:
        for condition in policy.inputs["conditions"]:
            promql = condition["conditionPrometheusQueryLanguage"]
            assert promql["disableMetricValidation"] is True, condition["displayName"]


def test_errors_and_latency_count_only_the_endpoints_own_answers():
    # The probes' /healthz and /readyz 200s (kubelet's every few seconds, the load balancer's,
    # the uptime check's) outnumber a quiet endpoint's calls: a /predict failing every call
    # must still be 100% of what the 5xx rate counts (issue 17, item 13).
    queries = policy_queries(rendered(FULL))
    for condition in ("5xx rate", "p99 latency"):
        selectors = re.findall(r"\{([^}]*)\}", queries[condition])
        assert selectors, condition
        for selector in selectors:
            assert 'path="/predict"' in selector, (condition, selector)
        assert PREDICT_PATH == "/predict" and PREDICT_PATH in metrics.PATHS


def test_healthy_replicas_are_ready_replicas_not_answering_metrics_ports():
    # A replica whose model never loads answers on its metrics port (`up` is 1) but is not
    # ready; the Deployment's available replicas are its ready Pods.
    query = policy_queries(rendered(FULL))["healthy replicas below minReplicas"]
    assert "up" not in metric_names(query)
    assert metric_names(query) == {"kube_deployment_status_replicas_available"}
    assert query.endswith("< 2")


def test_the_uptime_check_has_an_alert_on_its_own_results():
    r = rendered(FULL)
    check = r.one(UPTIME)
    (policy,) = [p for p in r.of_type(POLICY) if p not in promql_policies(r)]
    (condition,) = policy.inputs["conditions"]
    threshold = plain(condition["conditionThreshold"])
    check_id = check.outputs["uptimeCheckId"]
    assert threshold["filter"] == (
        'metric.type="monitoring.googleapis.com/uptime_check/check_passed" AND '
        f'metric.label.check_id="{check_id}" AND resource.type="uptime_url"'
    )
    (aggregation,) = threshold["aggregations"]
    assert aggregation == {
        "alignmentPeriod": "1200s",
        "perSeriesAligner": "ALIGN_NEXT_OLDER",
        "crossSeriesReducer": "REDUCE_COUNT_FALSE",
        "groupByFields": ["resource.label.*"],
    }
    # More than one region failing: one is often that region's own network.
    assert (threshold["comparison"], threshold["thresholdValue"]) == ("COMPARISON_GT", 1)
    assert len(check.inputs["selectedRegions"]) > threshold["thresholdValue"]
    # The window holds every region's latest result.
    assert int(aggregation["alignmentPeriod"][:-1]) > int(check.inputs["period"][:-1])
    channel = r.one(CHANNEL)
    assert policy.inputs["notificationChannels"] == [channel.outputs["name"]]


def test_the_estimate_prices_every_condition_the_stack_renders():
    conditions = [c for p in rendered(FULL).of_type(POLICY) for c in p.inputs["conditions"]]
    assert len(conditions) == GCP_ALERT_CONDITIONS


def test_latency_and_error_thresholds_follow_the_alarm_settings():
    # A model slow by nature sets alarmLatencyMs once, for the aws alarms and gcp's alerts alike.
    queries = policy_queries(rendered({**ON, "alarmLatencyMs": 8000, "alarmErrorPercent": 12}))
    assert queries["5xx rate"].endswith("> 12")
    assert queries["p99 latency"].endswith("> 8")
    assert policy_queries(rendered(ON))["p99 latency"].endswith("> 2.5")


def test_healthy_replicas_threshold_follows_min_replicas():
    queries = policy_queries(rendered({**ON, "minReplicas": 3, "maxReplicas": 5}))
    assert queries["healthy replicas below minReplicas"].endswith("< 3")


def test_policies_hold_for_minutes_and_notify_the_email_channel():
    r = rendered(FULL)
    channel = r.one(CHANNEL)
    assert channel.inputs["type"] == "email"
    assert channel.inputs["labels"] == {"email_address": "ops@example.com"}
    for policy in r.of_type(POLICY):
        assert policy.inputs["notificationChannels"] == [channel.outputs["name"]]
        assert policy.inputs["combiner"] == "OR"
    for policy in promql_policies(r):
        condition = policy.inputs["conditions"][0]["conditionPrometheusQueryLanguage"]
        assert condition["duration"] in ("300s", "600s")
        assert condition["evaluationInterval"] == "60s"


def test_without_an_email_no_channel_and_no_notifications():
    r = rendered(ON)
    assert not r.of_type(CHANNEL)
    for policy in r.of_type(POLICY):
        assert not policy.inputs.get("notificationChannels")


def test_uptime_check_asks_readiness_on_the_public_address_from_three_regions():
    r = rendered(ON)
    check = plain(r.one(UPTIME).inputs)
    assert check["monitoredResource"] == {
        "type": "uptime_url",
        "labels": {"project_id": fakes.GCP_PROJECT, "host": fakes.GCP_LB_INGRESS["ip"]},
    }
    assert check["httpCheck"]["path"] == "/readyz" and check["httpCheck"]["port"] == 80
    assert r.outputs["url"] == f"http://{fakes.GCP_LB_INGRESS['ip']}"
    assert len(check["selectedRegions"]) >= 3
    assert check["period"] in ("60s", "300s", "600s", "900s")


def test_dashboard_is_valid_json_of_valid_promql_charts():
    r = rendered(ON)
    body = json.loads(r.one(DASHBOARD).inputs["dashboardJson"])
    jsonschema.validate(body, DASHBOARD_SCHEMA)
    charted = set()
    for tile in body["mosaicLayout"]["tiles"]:
        assert tile.get("xPos", 0) + tile["width"] <= body["mosaicLayout"]["columns"]
        for data_set in tile["widget"]["xyChart"]["dataSets"]:
            charted |= metric_names(data_set["timeSeriesQuery"]["prometheusQuery"])
    assert charted <= KNOWN_METRICS
    # requests, errors, latency, model time, queue, replicas, CPU and memory, version
    assert {
        REQUESTS_TOTAL,
        f"{REQUEST_SECONDS}_bucket",
        f"{INFERENCE_SECONDS}_bucket",
        QUEUE_WAITING,
        "kube_deployment_spec_replicas",
        "kubernetes_io:container_cpu_core_usage_time",
        "kubernetes_io:container_memory_used_bytes",
        MODEL_INFO,
    } <= charted


def test_dashboard_tiles_at_position_0_leave_it_out_and_still_tile_the_grid():
    # The Dashboards API omits zero-valued fields in what it returns; a tile sent with
    # `"xPos": 0` differs from the one read back, and the provider shows a diff on every
    # preview (terraform-provider-google added stripMonitoringDashboardZeroTilePositions for it
    # in later versions). Leaving the zeros out matches what the API returns on every version.
    body = json.loads(rendered(ON).one(DASHBOARD).inputs["dashboardJson"])
    tiles = body["mosaicLayout"]["tiles"]
    for tile in tiles:
        assert tile.get("xPos", None) != 0 and tile.get("yPos", None) != 0, tile["widget"]["title"]
    # Read back with the API's zero default: every tile in its own cell, none overlapping.
    cells = set()
    for tile in tiles:
        x, y = tile.get("xPos", 0), tile.get("yPos", 0)
        cell = {(x + dx, y + dy) for dx in range(tile["width"]) for dy in range(tile["height"])}
        assert not cells & cell, tile["widget"]["title"]
        cells |= cell
    assert (0, 0) in cells


def test_promql_parser_refuses_a_broken_query():
    with pytest.raises(ValueError):
        metric_names("sum(rate(http_requests_total[5m])")
