"""The aws target's eyes (`monitoring`, `alertEmail`, `requestsPerReplica`, `metricsPort`,
`logFormat`) under mocks: alarms, dashboard, SNS, deployment alarms, scaling on requests.

Metric names, namespaces and dimensions are checked against the tables below, transcribed from
AWS's documentation; every request the provider will send is rebuilt from the rendered inputs and
checked against botocore's models (CloudWatch PutMetricAlarm and PutDashboard, SNS CreateTopic and
Subscribe, Application Auto Scaling PutScalingPolicy, ECS CreateService).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema
import pytest

from infra.aws.alarms import dashboard_name
from infra.observability import EMF_DIMENSION, EMF_METRIC, EMF_NAMESPACE
from tests.harness import Rendered
from tests.infra.botocore_shapes import assert_valid
from tests.infra.test_aws import (
    EGRESS,
    INGRESS,
    LB,
    LISTENER,
    SCALING_POLICY,
    SCALING_TARGET,
    SERVICE,
    TG,
    container,
    create_service_request,
    ints,
    render,
)

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
CLUSTER = "aws:ecs/cluster:Cluster"

ON = {"monitoring": True}
EMF_ENV = ("CLOUDWATCH_EMF_NAMESPACE", "CLOUDWATCH_EMF_SERVICE")
FULL = {"monitoring": True, "alertEmail": "ops@example.com", "requestsPerReplica": 600}
INSIGHTS = {**FULL, "containerInsights": True}

# Metric -> the dimension sets AWS documents for it. Sources: Elastic Load Balancing docs,
# "CloudWatch metrics for your Application Load Balancer" (metrics and "Metric dimensions");
# Amazon ECS docs, "Amazon ECS CloudWatch metrics" (AWS/ECS service metrics by ClusterName and
# ServiceName, published without Container Insights); CloudWatch docs, "Amazon ECS Container
# Insights metrics" (ECS/ContainerInsights, only with Container Insights on the cluster).
LB_TG = frozenset({"LoadBalancer", "TargetGroup"})
LB_ONLY = frozenset({"LoadBalancer"})
ECS_SERVICE = frozenset({"ClusterName", "ServiceName"})
DOCUMENTED: dict[tuple[str, str], set[frozenset[str]]] = {
    ("AWS/ApplicationELB", "RequestCount"): {LB_ONLY, LB_TG},
    ("AWS/ApplicationELB", "HTTPCode_Target_4XX_Count"): {LB_ONLY, LB_TG},
    ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"): {LB_ONLY, LB_TG},
    ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"): {LB_ONLY},
    ("AWS/ApplicationELB", "TargetResponseTime"): {LB_ONLY, LB_TG},
    ("AWS/ApplicationELB", "HealthyHostCount"): {LB_TG},
    ("AWS/ApplicationELB", "UnHealthyHostCount"): {LB_TG},
    ("AWS/ECS", "CPUUtilization"): {ECS_SERVICE},
    ("AWS/ECS", "MemoryUtilization"): {ECS_SERVICE},
    ("ECS/ContainerInsights", "RunningTaskCount"): {ECS_SERVICE},
    ("ECS/ContainerInsights", "DesiredTaskCount"): {ECS_SERVICE},
    # The app's own, from its EMF log lines (infra.observability): the contract, not AWS's.
    (EMF_NAMESPACE, EMF_METRIC): {frozenset({EMF_DIMENSION})},
}

# The ARN suffixes CloudWatch's ALB dimensions take. Source: ELB docs, "Metric dimensions for
# Application Load Balancers" (LoadBalancer: app/<name>/<id>; TargetGroup: targetgroup/<name>/<id>)
# and Application Auto Scaling's PredefinedMetricSpecification.ResourceLabel for
# ALBRequestCountPerTarget (the two joined with a slash).
LB_SUFFIX = r"app/[A-Za-z0-9-]+/[0-9a-f]+"
TG_SUFFIX = r"targetgroup/[A-Za-z0-9-]+/[0-9a-f]+"

# PutDashboard's DashboardBody structure. Source: CloudWatch API reference, "Dashboard Body
# Structure and Syntax" (a widgets array of at most 500; x 0-23, width 1-24, height 1-1000;
# metric widgets need properties.metrics and region; each metric is an array of namespace,
# metric name, dimension name/value pairs, then an optional rendering-properties object).
METRIC_ROW = {
    "type": "array",
    "minItems": 2,
    "prefixItems": [{"type": "string"}, {"type": "string"}],
    "items": {"anyOf": [{"type": "string"}, {"type": "object"}]},
}
DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["widgets"],
    "properties": {
        "widgets": {
            "type": "array",
            "maxItems": 500,
            "items": {
                "type": "object",
                "required": ["type", "properties"],
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": ["metric", "text", "log", "alarm", "explorer"]},
                    "x": {"type": "integer", "minimum": 0, "maximum": 23},
                    "y": {"type": "integer", "minimum": 0},
                    "width": {"type": "integer", "minimum": 1, "maximum": 24},
                    "height": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "properties": {"type": "object"},
                },
                "allOf": [
                    {
                        "if": {"properties": {"type": {"const": "metric"}}},
                        "then": {
                            "properties": {
                                "properties": {
                                    "required": ["metrics", "region"],
                                    "properties": {
                                        "metrics": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": 100,
                                            "items": METRIC_ROW,
                                        },
                                        "view": {
                                            "enum": [
                                                "timeSeries",
                                                "singleValue",
                                                "gauge",
                                                "bar",
                                                "pie",
                                                "table",
                                            ]
                                        },
                                        "period": {"type": "integer", "minimum": 1},
                                    },
                                }
                            }
                        },
                    },
                    {
                        "if": {"properties": {"type": {"const": "text"}}},
                        "then": {
                            "properties": {"properties": {"required": ["markdown"]}},
                        },
                    },
                ],
            },
        }
    },
}


def alarms(r: Rendered) -> dict[str, dict[str, Any]]:
    return {res.name: ints(res.inputs) for res in r.of_type(ALARM)}


def metric_uses(r: Rendered) -> list[tuple[str, str, frozenset[str]]]:
    """Every (namespace, metric, dimension names) the alarms and the dashboard refer to."""
    used = []
    for alarm in alarms(r).values():
        if "metricName" in alarm:
            used.append((alarm["namespace"], alarm["metricName"], frozenset(alarm["dimensions"])))
        for query in alarm.get("metricQueries", []):
            if "metric" in query:
                m = query["metric"]
                used.append((m["namespace"], m["metricName"], frozenset(m["dimensions"])))
    for widget in dashboard(r)["widgets"]:
        for row in widget["properties"].get("metrics", []):
            names = [v for v in row[2:] if isinstance(v, str)][0::2]
            used.append((row[0], row[1], frozenset(names)))
    return used


def dashboard(r: Rendered) -> dict[str, Any]:
    return json.loads(r.one(DASHBOARD).inputs["dashboardBody"])


def put_metric_alarm_request(res_name: str, alarm: dict[str, Any]) -> dict[str, Any]:
    """The PutMetricAlarm request the provider sends for an alarm's inputs."""
    alarm = copy.deepcopy(alarm)
    request: dict[str, Any] = {"AlarmName": f"{res_name}-1234567"}
    simple = {
        "alarmDescription": "AlarmDescription",
        "alarmActions": "AlarmActions",
        "okActions": "OKActions",
        "comparisonOperator": "ComparisonOperator",
        "datapointsToAlarm": "DatapointsToAlarm",
        "evaluationPeriods": "EvaluationPeriods",
        "threshold": "Threshold",
        "treatMissingData": "TreatMissingData",
        "namespace": "Namespace",
        "metricName": "MetricName",
        "period": "Period",
        "statistic": "Statistic",
        "extendedStatistic": "ExtendedStatistic",
    }
    for key, api in simple.items():
        if key in alarm:
            request[api] = alarm.pop(key)
    if "Threshold" in request:
        request["Threshold"] = float(request["Threshold"])
    if "dimensions" in alarm:
        request["Dimensions"] = [
            {"Name": k, "Value": v} for k, v in alarm.pop("dimensions").items()
        ]
    if "metricQueries" in alarm:
        queries = []
        for q in alarm.pop("metricQueries"):
            query = {"Id": q.pop("id"), "ReturnData": q.pop("returnData")}
            if "expression" in q:
                query["Expression"] = q.pop("expression")
            if "label" in q:
                query["Label"] = q.pop("label")
            if "metric" in q:
                m = q.pop("metric")
                query["MetricStat"] = {
                    "Metric": {
                        "Namespace": m["namespace"],
                        "MetricName": m["metricName"],
                        "Dimensions": [{"Name": k, "Value": v} for k, v in m["dimensions"].items()],
                    },
                    "Period": m["period"],
                    "Stat": m["stat"],
                }
            assert q == {}, q
            queries.append(query)
        request["Metrics"] = queries
    assert alarm == {}, f"inputs this translation does not map yet: {alarm}"
    return request


# --- off by default ------------------------------------------------------------------------------


def test_without_the_keys_the_dev_stack_renders_no_monitoring_and_the_same_container():
    r = render()
    assert not r.of_type(ALARM) and not r.of_type(DASHBOARD) and not r.of_type(TOPIC)
    assert len(r.of_type(SCALING_POLICY)) == 1
    # The service's deployment alarms are sent switched off (see the deployment alarms below).
    assert ints(r.one(SERVICE).inputs)["alarms"]["enable"] is False
    names = {e["name"] for e in container(r)["environment"]}
    assert not names & {"METRICS_PORT", "LOG_FORMAT", *EMF_ENV}
    assert [p["containerPort"] for p in ints(container(r)["portMappings"])] == [8080]


def test_log_format_json_alone_adds_only_log_format():
    r = render({"logFormat": "json"})
    assert container(r)["environment"] == [
        *container(render())["environment"],
        {"name": "LOG_FORMAT", "value": "json"},
    ]
    assert not r.of_type(ALARM)


# --- the container ---------------------------------------------------------------------------------


def test_monitoring_sets_the_metrics_port_and_the_emf_settings_in_the_container():
    r = render({**ON, "metricsPort": 9100})
    assert container(r)["environment"] == [
        *container(render())["environment"],
        {"name": "METRICS_PORT", "value": "9100"},
        {"name": "CLOUDWATCH_EMF_NAMESPACE", "value": EMF_NAMESPACE},
        {"name": "CLOUDWATCH_EMF_SERVICE", "value": "echo-service-dev"},
    ]


@pytest.mark.parametrize("overrides", [FULL, {**FULL, "metricsPort": 8081}])
def test_the_metrics_port_is_never_reachable_through_the_load_balancer(overrides):
    r = render(overrides)
    metrics_port = overrides.get("metricsPort", 9090)
    # No port mapping (so no target group can name it) ...
    assert [p["containerPort"] for p in ints(container(r)["portMappings"])] == [8080]
    # ... no target group, listener or security group rule on it.
    assert {ints(tg.inputs)["port"] for tg in r.of_type(TG)} == {8080}
    assert metrics_port not in {ints(lst.inputs)["port"] for lst in r.of_type(LISTENER)}
    for rule in [*r.of_type(INGRESS), *r.of_type(EGRESS)]:
        inputs = ints(rule.inputs)
        if inputs.get("ipProtocol") == "-1":
            continue  # the tasks' outbound rule
        assert inputs["fromPort"] <= inputs["toPort"]
        assert not inputs["fromPort"] <= metrics_port <= inputs["toPort"], rule.name
    (lb,) = r.one(SERVICE).inputs["loadBalancers"]
    assert ints(lb)["containerPort"] == 8080


# --- alarms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [ON, FULL, INSIGHTS], ids=["on", "email", "insights"])
def test_every_metric_the_alarms_and_dashboard_use_is_one_aws_documents(overrides):
    r = render(overrides)
    used = metric_uses(r)
    assert used
    for namespace, metric, dimensions in used:
        assert (namespace, metric) in DOCUMENTED, (namespace, metric)
        assert dimensions in DOCUMENTED[namespace, metric], (namespace, metric, dimensions)


def test_alb_dimensions_are_the_load_balancer_and_target_group_arn_suffixes():
    r = render(FULL)
    lb_suffix = r.one(LB).outputs["arnSuffix"]
    tg_suffix = r.one(TG).outputs["arnSuffix"]
    assert re.fullmatch(LB_SUFFIX, lb_suffix) and re.fullmatch(TG_SUFFIX, tg_suffix)
    for alarm in alarms(r).values():
        dimension_sets = [alarm.get("dimensions")] + [
            q["metric"]["dimensions"] for q in alarm.get("metricQueries", []) if "metric" in q
        ]
        for dims in filter(None, dimension_sets):
            if "LoadBalancer" in dims:
                assert dims == {"LoadBalancer": lb_suffix, "TargetGroup": tg_suffix}


def test_the_four_conditions_are_alarmed_on():
    r = render(INSIGHTS)
    by_name = alarms(r)
    assert set(by_name) == {
        "echo-service-5xx-rate",
        "echo-service-p99-latency",
        "echo-service-healthy-targets",
        "echo-service-running-below-desired",
    }
    rate = by_name["echo-service-5xx-rate"]
    expression = next(q for q in rate["metricQueries"] if q.get("returnData"))
    assert expression["expression"] == "100 * FILL(errors, 0) / requests"
    ids = {q["id"]: q["metric"]["metricName"] for q in rate["metricQueries"] if "metric" in q}
    assert ids == {"errors": "HTTPCode_Target_5XX_Count", "requests": "RequestCount"}
    assert (rate["comparisonOperator"], rate["threshold"]) == ("GreaterThanThreshold", 5)
    latency = by_name["echo-service-p99-latency"]
    assert (latency["metricName"], latency["extendedStatistic"]) == ("TargetResponseTime", "p99")
    healthy = by_name["echo-service-healthy-targets"]
    assert (healthy["metricName"], healthy["statistic"]) == ("HealthyHostCount", "Minimum")
    assert (healthy["comparisonOperator"], healthy["threshold"]) == ("LessThanThreshold", 2)
    three = alarms(render({**ON, "minReplicas": 3, "maxReplicas": 5}))
    assert three["echo-service-healthy-targets"]["threshold"] == 3
    running = by_name["echo-service-running-below-desired"]
    assert {q["metric"]["metricName"] for q in running["metricQueries"] if "metric" in q} == {
        "RunningTaskCount",
        "DesiredTaskCount",
    }


def test_running_below_desired_needs_container_insights_and_is_left_out_without_it():
    r = render(FULL)
    assert "echo-service-running-below-desired" not in alarms(r)
    texts = [w for w in dashboard(r)["widgets"] if w["type"] == "text"]
    assert "Container Insights" in texts[0]["properties"]["markdown"]
    assert "echo-service-running-below-desired" in alarms(render(INSIGHTS))


@pytest.mark.parametrize("overrides", [ON, FULL, INSIGHTS], ids=["on", "email", "insights"])
def test_alarms_are_valid_put_metric_alarm_requests(overrides):
    r = render(overrides)
    for res in r.of_type(ALARM):
        assert_valid(
            "cloudwatch", "PutMetricAlarm", put_metric_alarm_request(res.name, ints(res.inputs))
        )


def test_alert_email_subscribes_to_a_topic_every_alarm_notifies():
    r = render(FULL)
    topic = r.one(TOPIC)
    subscription = r.one(SUBSCRIPTION).inputs
    assert subscription == {
        "topic": topic.outputs["arn"],
        "protocol": "email",
        "endpoint": "ops@example.com",
    }
    for alarm in alarms(r).values():
        assert alarm["alarmActions"] == [topic.outputs["arn"]]
        assert alarm["okActions"] == [topic.outputs["arn"]]
    assert_valid("sns", "CreateTopic", {"Name": topic.outputs["name"]})
    assert_valid(
        "sns",
        "Subscribe",
        {"TopicArn": subscription["topic"], "Protocol": "email", "Endpoint": "ops@example.com"},
    )


def test_without_an_email_no_topic_and_the_alarms_notify_nobody():
    r = render(ON)
    assert not r.of_type(TOPIC) and not r.of_type(SUBSCRIPTION)
    for alarm in alarms(r).values():
        assert "alarmActions" not in alarm and "okActions" not in alarm


# --- deployment alarms -----------------------------------------------------------------------------


def test_the_error_and_latency_alarms_roll_a_deploy_back():
    r = render(INSIGHTS)
    names = {res.name: res.outputs["name"] for res in r.of_type(ALARM)}
    service = ints(r.one(SERVICE).inputs)
    assert service["alarms"] == {
        "alarmNames": [names["echo-service-5xx-rate"], names["echo-service-p99-latency"]],
        "enable": True,
        "rollback": True,
    }
    # The circuit breaker still guards tasks that never get healthy.
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}


@pytest.mark.parametrize("overrides", [{}, FULL], ids=["off", "on"])
def test_service_with_deployment_alarms_is_a_valid_create_service_request(overrides):
    request = create_service_request(render(overrides))
    assert set(request["deploymentConfiguration"]["alarms"]) == {"alarmNames", "enable", "rollback"}
    assert_valid("ecs", "CreateService", request)


def test_without_monitoring_the_deployment_alarms_are_sent_switched_off():
    # Issue 17, item 9. terraform-provider-aws suppresses the diff of a removed `alarms` block
    # (ecs/service.go: SuppressMissingOptionalConfigurationBlock), so leaving it out when
    # monitoring goes off would leave ECS watching, and rolling back on, deleted alarms.
    on = ints(render(ON).one(SERVICE).inputs)["alarms"]
    off = ints(render().one(SERVICE).inputs)["alarms"]
    assert on["enable"] is True and on["rollback"] is True
    assert off == {
        "alarmNames": ["echo-service-dev-no-deployment-alarms"],
        "enable": False,
        "rollback": False,
    }
    # Not an empty list: the provider's expandAlarms drops an empty set, and the Go SDK then
    # refuses the request for its missing required alarmNames.
    assert off["alarmNames"] and not set(off["alarmNames"]) & set(on["alarmNames"])
    request = {"cluster": "c", "service": "s", "deploymentConfiguration": {"alarms": off}}
    assert_valid("ecs", "UpdateService", request)


# --- thresholds and rollback as settings (issue 17, item 8) ----------------------------------------


def test_without_the_threshold_keys_the_alarms_keep_5_percent_and_2_5_seconds():
    by_name = alarms(render(ON))
    assert by_name["echo-service-5xx-rate"]["threshold"] == 5
    assert by_name["echo-service-p99-latency"]["threshold"] == 2.5
    assert all(a["alarmDescription"].endswith("Rolls a deploy back.") for a in
               (by_name["echo-service-5xx-rate"], by_name["echo-service-p99-latency"]))  # fmt: skip


def test_a_slow_model_sets_its_own_thresholds_on_the_alarms_and_the_dashboard():
    # A model whose normal p99 is 6 s would have every deploy rolled back at 2.5 s.
    r = render({**ON, "alarmLatencyMs": 8000, "alarmErrorPercent": 12})
    by_name = alarms(r)
    rate, latency = by_name["echo-service-5xx-rate"], by_name["echo-service-p99-latency"]
    assert rate["threshold"] == 12 and "More than 12% of requests" in rate["alarmDescription"]
    assert latency["threshold"] == 8 and "above 8 s" in latency["alarmDescription"]
    widget = next(w for w in dashboard(r)["widgets"]
                  if w["properties"].get("title") == "Response time (seconds)")  # fmt: skip
    assert widget["properties"]["annotations"]["horizontal"] == [{"label": "p99 alarm", "value": 8}]
    for res in r.of_type(ALARM):
        assert_valid(
            "cloudwatch", "PutMetricAlarm", put_metric_alarm_request(res.name, ints(res.inputs))
        )


def test_rollback_on_alarm_false_keeps_the_alarms_but_ecs_leaves_deploys_alone():
    r = render({**ON, "rollbackOnAlarm": False})
    names = {res.name: res.outputs["name"] for res in r.of_type(ALARM)}
    assert ints(r.one(SERVICE).inputs)["alarms"] == {
        "alarmNames": [names["echo-service-5xx-rate"], names["echo-service-p99-latency"]],
        "enable": False,
        "rollback": False,
    }
    by_name = alarms(r)
    for alarm in ("echo-service-5xx-rate", "echo-service-p99-latency"):
        assert by_name[alarm]["alarmDescription"].endswith("Leaves deploys alone.")
    assert_valid("ecs", "CreateService", create_service_request(r))


# --- dashboard -------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [ON, INSIGHTS], ids=["on", "insights"])
def test_dashboard_is_a_valid_put_dashboard_request_with_a_valid_body(overrides):
    r = render(overrides)
    inputs = r.one(DASHBOARD).inputs
    assert inputs["dashboardName"] == "echo-service-dev"
    assert_valid(
        "cloudwatch",
        "PutDashboard",
        {"DashboardName": inputs["dashboardName"], "DashboardBody": inputs["dashboardBody"]},
    )
    body = json.loads(inputs["dashboardBody"])
    jsonschema.validate(body, DASHBOARD_SCHEMA)
    for widget in body["widgets"]:
        assert widget["x"] + widget["width"] <= 24
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == "us-east-1"


def test_dashboard_shows_what_the_issue_asks_for():
    r = render(INSIGHTS)
    shown = {(ns, metric) for ns, metric, _ in metric_uses(r)}
    assert {
        ("AWS/ApplicationELB", "RequestCount"),
        ("AWS/ApplicationELB", "HTTPCode_Target_4XX_Count"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
        ("AWS/ApplicationELB", "TargetResponseTime"),
        ("AWS/ApplicationELB", "HealthyHostCount"),
        ("ECS/ContainerInsights", "RunningTaskCount"),
        ("ECS/ContainerInsights", "DesiredTaskCount"),
        ("AWS/ECS", "CPUUtilization"),
        ("AWS/ECS", "MemoryUtilization"),
        (EMF_NAMESPACE, EMF_METRIC),
    } <= shown
    stats = {
        row[-1]["stat"]
        for w in dashboard(r)["widgets"]
        for row in w["properties"].get("metrics", [])
        if row[1] == "TargetResponseTime"
    }
    assert stats == {"p50", "p99"}
    ecs_rows = [
        row
        for w in dashboard(r)["widgets"]
        for row in w["properties"].get("metrics", [])
        if row[0] in ("AWS/ECS", "ECS/ContainerInsights")
    ]
    cluster, service = r.one(CLUSTER).outputs["name"], r.one(SERVICE).outputs["name"]
    assert all(row[2:6] == ["ClusterName", cluster, "ServiceName", service] for row in ecs_rows)
    emf_rows = [
        row
        for w in dashboard(r)["widgets"]
        for row in w["properties"].get("metrics", [])
        if row[0] == EMF_NAMESPACE
    ]
    # The same value the container is given as CLOUDWATCH_EMF_SERVICE.
    assert all(row[2:4] == [EMF_DIMENSION, "echo-service-dev"] for row in emf_rows)


def test_dashboard_name_keeps_only_the_characters_cloudwatch_allows():
    from infra.settings import Settings

    assert dashboard_name(Settings(stack="Dev.Box_1")) == "echo-service-Dev-Box_1"


# --- scaling on requests ---------------------------------------------------------------------------


def test_requests_per_replica_adds_alb_request_count_tracking_alongside_cpu():
    r = render(FULL)
    policies = {res.name: ints(res.inputs) for res in r.of_type(SCALING_POLICY)}
    assert set(policies) == {"echo-service-cpu", "echo-service-requests"}
    requests = policies["echo-service-requests"]
    tracking = requests["targetTrackingScalingPolicyConfiguration"]
    assert tracking["targetValue"] == 600
    spec = tracking["predefinedMetricSpecification"]
    assert spec["predefinedMetricType"] == "ALBRequestCountPerTarget"
    label = f"{r.one(LB).outputs['arnSuffix']}/{r.one(TG).outputs['arnSuffix']}"
    assert spec["resourceLabel"] == label
    assert re.fullmatch(f"{LB_SUFFIX}/{TG_SUFFIX}", label)
    assert requests["resourceId"] == ints(r.one(SCALING_TARGET).inputs)["resourceId"]


def test_requests_per_replica_works_without_monitoring_and_is_a_valid_request():
    r = render({"requestsPerReplica": 1200})
    assert not r.of_type(ALARM)
    policy = next(res for res in r.of_type(SCALING_POLICY) if res.name == "echo-service-requests")
    inputs = ints(policy.inputs)
    tracking = inputs["targetTrackingScalingPolicyConfiguration"]
    spec = tracking["predefinedMetricSpecification"]
    assert_valid(
        "application-autoscaling",
        "PutScalingPolicy",
        {
            "PolicyName": policy.name,
            "ServiceNamespace": inputs["serviceNamespace"],
            "ResourceId": inputs["resourceId"],
            "ScalableDimension": inputs["scalableDimension"],
            "PolicyType": inputs["policyType"],
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": float(tracking["targetValue"]),
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": spec["predefinedMetricType"],
                    "ResourceLabel": spec["resourceLabel"],
                },
                "ScaleOutCooldown": tracking["scaleOutCooldown"],
                "ScaleInCooldown": tracking["scaleInCooldown"],
            },
        },
    )


def test_task_definition_with_monitoring_is_still_a_valid_register_task_definition_request():
    from tests.infra.test_aws import register_task_definition_request

    request = register_task_definition_request(render(FULL))
    assert_valid("ecs", "RegisterTaskDefinition", request)
