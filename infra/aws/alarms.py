"""The aws target's eyes (`monitoring`): CloudWatch alarms, the SNS topic that mails them, and a
dashboard of the service.

Metric names, namespaces and dimensions are the ones AWS documents: the ALB's in
`AWS/ApplicationELB` ("CloudWatch metrics for your Application Load Balancer": per target group
with the `LoadBalancer` and `TargetGroup` dimensions, whose values are the `app/...` and
`targetgroup/...` ARN suffixes), ECS's in `AWS/ECS` (CPUUtilization and MemoryUtilization by
`ClusterName` and `ServiceName`, published without Container Insights), and Container Insights'
in `ECS/ContainerInsights` (RunningTaskCount and DesiredTaskCount by the same two dimensions, only
when `containerInsights` is on). The model's own latency comes from the app's EMF log lines
(`infra.observability`).

Which alarms roll a deploy back: the 5xx rate and the p99 latency ones, through the ECS service's
deployment alarms. Not the capacity ones: during a service's first deployment, and for every
scale-out, running tasks are below desired and healthy targets below minReplicas for a minute or
two by design; as deployment alarms they would fail the first `pulumi up`. A new image whose tasks
never become healthy is already rolled back by the deployment circuit breaker.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi_aws.cloudwatch import MetricAlarmMetricQueryArgs as Query
from pulumi_aws.cloudwatch import MetricAlarmMetricQueryMetricArgs as Metric

from infra.aws.options import child
from infra.observability import (
    ALARM_MINUTES,
    CAPACITY_ALARM_MINUTES,
    EMF_DIMENSION,
    EMF_METRIC,
    EMF_NAMESPACE,
)
from infra.settings import Settings

ALB_NAMESPACE = "AWS/ApplicationELB"
ECS_NAMESPACE = "AWS/ECS"
INSIGHTS_NAMESPACE = "ECS/ContainerInsights"
# One-minute periods: the ALB and ECS publish these metrics every 60 seconds.
PERIOD_SECONDS = 60
# Of the last ALARM_MINUTES one-minute periods, how many must breach for the error and latency
# alarms: three of five rides out a single bad minute yet rolls a bad deploy back in minutes.
DATAPOINTS_TO_ALARM = 3
DASHBOARD_WIDTH = 24  # CloudWatch dashboards are a 24-column grid
WIDGET_WIDTH, WIDGET_HEIGHT = 12, 6


def dashboard_name(settings: Settings) -> str:
    """The dashboard's name: per stack, in the characters PutDashboard allows (A-Za-z0-9_-)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", settings.name)


def alert_topic(
    parent: pulumi.ComponentResource, name: str, provider: aws.Provider, settings: Settings
) -> aws.sns.Topic | None:
    """The SNS topic the alarms notify and the `alertEmail` subscription; None without an email.

    SNS mails a confirmation first: nothing is delivered until the address confirms it.
    """
    email = settings.observability.alert_email
    if not email:
        return None
    topic = aws.sns.Topic(f"{name}-alerts", opts=child(parent, provider))
    aws.sns.TopicSubscription(
        f"{name}-alerts-email",
        topic=topic.arn,
        protocol="email",
        endpoint=email,
        opts=child(parent, provider),
    )
    return topic


def _actions(topic: aws.sns.Topic | None) -> dict[str, Any]:
    if topic is None:
        return {}
    # Mail on the way into ALARM and back to OK, so a recovery is known too.
    return {"alarm_actions": [topic.arn], "ok_actions": [topic.arn]}


def latency_threshold_seconds(settings: Settings) -> float:
    """The p99 alarm's threshold in seconds (TargetResponseTime's unit): `alarmLatencyMs`."""
    return settings.observability.alarm_latency_ms / 1000


def deployment_alarms(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    settings: Settings,
    lb: aws.lb.LoadBalancer,
    target_group: aws.lb.TargetGroup,
    topic: aws.sns.Topic | None,
) -> list[aws.cloudwatch.MetricAlarm]:
    """The 5xx-rate and p99-latency alarms; the ECS service's deployment alarms are these.

    Their thresholds are `alarmErrorPercent` and `alarmLatencyMs` (by default 5% and 2.5 s, the
    values every cloud used before they were settings); with `rollbackOnAlarm` false they still
    alarm and notify, and the service leaves deploys alone (see `infra.aws.service`).
    """
    watch = settings.observability
    error_percent = float(watch.alarm_error_percent)
    latency = latency_threshold_seconds(settings)
    effect = "Rolls a deploy back." if watch.rollback_on_alarm else "Leaves deploys alone."
    target = {"LoadBalancer": lb.arn_suffix, "TargetGroup": target_group.arn_suffix}

    def alb(query_id: str, metric: str) -> Query:
        return _query(query_id, ALB_NAMESPACE, metric, target, "Sum")

    # Both alarm above a threshold for DATAPOINTS_TO_ALARM of ALARM_MINUTES minutes; no data
    # (no traffic) is not an alarm.
    above: dict[str, Any] = {
        "comparison_operator": "GreaterThanThreshold",
        "evaluation_periods": ALARM_MINUTES,
        "datapoints_to_alarm": DATAPOINTS_TO_ALARM,
        "treat_missing_data": "notBreaching",
        "opts": child(parent, provider),
        **_actions(topic),
    }

    errors = aws.cloudwatch.MetricAlarm(
        f"{name}-5xx-rate",
        alarm_description=(
            f"More than {error_percent:g}% of requests answered 5xx by the tasks "
            f"({DATAPOINTS_TO_ALARM} of {ALARM_MINUTES} minutes). {effect}"
        ),
        metric_queries=[
            alb("errors", "HTTPCode_Target_5XX_Count"),
            alb("requests", "RequestCount"),
            Query(
                id="rate",
                # No requests, no data point (treated as not breaching); no 5xx, a zero.
                expression="100 * FILL(errors, 0) / requests",
                label="5xx % of requests",
                return_data=True,
            ),
        ],
        threshold=error_percent,
        **above,
    )
    latency = aws.cloudwatch.MetricAlarm(
        f"{name}-p99-latency",
        alarm_description=(
            f"p99 target response time above {latency:g} s "
            f"({DATAPOINTS_TO_ALARM} of {ALARM_MINUTES} minutes). {effect}"
        ),
        namespace=ALB_NAMESPACE,
        metric_name="TargetResponseTime",
        dimensions=target,
        extended_statistic="p99",
        period=PERIOD_SECONDS,
        threshold=latency,
        **above,
    )
    return [errors, latency]


def capacity_alarms(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    settings: Settings,
    lb: aws.lb.LoadBalancer,
    target_group: aws.lb.TargetGroup,
    cluster: aws.ecs.Cluster,
    service_name: pulumi.Input[str],
    topic: aws.sns.Topic | None,
    alternate: aws.lb.TargetGroup | None = None,
) -> list[aws.cloudwatch.MetricAlarm]:
    """Healthy targets below minReplicas, and (with Container Insights) running below desired.

    With `rollout` canary or linear the tasks are in one target group or the other (ECS moves
    them every deploy, see `infra.aws.edge.traffic_shifting`): the healthy targets are then
    those of both groups together, or the alarm would fire for the group left empty.
    """

    def healthy(group: aws.lb.TargetGroup) -> dict[str, Any]:
        return {"LoadBalancer": lb.arn_suffix, "TargetGroup": group.arn_suffix}

    if alternate is None:
        healthy_metric: dict[str, Any] = {
            "namespace": ALB_NAMESPACE,
            "metric_name": "HealthyHostCount",
            "dimensions": healthy(target_group),
            "statistic": "Minimum",
            "period": PERIOD_SECONDS,
        }
    else:
        healthy_metric = {
            "metric_queries": [
                _query("primary", ALB_NAMESPACE, "HealthyHostCount", healthy(target_group),
                       "Minimum"),
                _query("alternate", ALB_NAMESPACE, "HealthyHostCount", healthy(alternate),
                       "Minimum"),
                Query(
                    id="healthy",
                    expression="FILL(primary, 0) + FILL(alternate, 0)",
                    label="healthy targets, both target groups",
                    return_data=True,
                ),
            ]
        }  # fmt: skip
    alarms = [
        aws.cloudwatch.MetricAlarm(
            f"{name}-healthy-targets",
            alarm_description=(
                f"Fewer healthy targets than minReplicas ({settings.min_replicas}) for "
                f"{ALARM_MINUTES} minutes."
            ),
            **healthy_metric,
            comparison_operator="LessThanThreshold",
            threshold=float(settings.min_replicas),
            evaluation_periods=ALARM_MINUTES,
            datapoints_to_alarm=ALARM_MINUTES,
            treat_missing_data="missing",
            opts=child(parent, provider),
            **_actions(topic),
        )
    ]
    if not settings.aws.container_insights:
        # RunningTaskCount and DesiredTaskCount exist only in ECS/ContainerInsights; without it
        # the healthy-targets alarm above is the one that sees missing replicas.
        return alarms
    service = {"ClusterName": cluster.name, "ServiceName": service_name}

    def insights(query_id: str, metric: str) -> Query:
        return _query(query_id, INSIGHTS_NAMESPACE, metric, service, "Average")

    alarms.append(
        aws.cloudwatch.MetricAlarm(
            f"{name}-running-below-desired",
            alarm_description=(
                f"Fewer running tasks than desired for {CAPACITY_ALARM_MINUTES} minutes "
                "(tasks failing to start or being stopped)."
            ),
            metric_queries=[
                insights("running", "RunningTaskCount"),
                insights("desired", "DesiredTaskCount"),
                Query(
                    id="missing",
                    expression="desired - running",
                    label="desired - running tasks",
                    return_data=True,
                ),
            ],
            comparison_operator="GreaterThanThreshold",
            threshold=0.0,
            evaluation_periods=CAPACITY_ALARM_MINUTES,
            datapoints_to_alarm=CAPACITY_ALARM_MINUTES,
            treat_missing_data="missing",
            opts=child(parent, provider),
            **_actions(topic),
        )
    )
    return alarms


def dashboard(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    settings: Settings,
    lb: aws.lb.LoadBalancer,
    target_group: aws.lb.TargetGroup,
    cluster: aws.ecs.Cluster,
    service_name: pulumi.Input[str],
) -> aws.cloudwatch.Dashboard:
    """A CloudWatch dashboard of the service, one per stack."""
    body = pulumi.Output.all(
        lb.arn_suffix, target_group.arn_suffix, cluster.name, service_name
    ).apply(lambda args: json.dumps(dashboard_body(settings, *args)))
    return aws.cloudwatch.Dashboard(
        f"{name}-dashboard",
        dashboard_name=dashboard_name(settings),
        dashboard_body=body,
        opts=child(parent, provider),
    )


def dashboard_body(
    settings: Settings, lb: str, target_group: str, cluster: str, service: str
) -> dict[str, Any]:
    """The dashboard's body in PutDashboard's JSON structure (widgets of type metric)."""
    region = settings.aws.region
    target = ["LoadBalancer", lb, "TargetGroup", target_group]
    ecs = ["ClusterName", cluster, "ServiceName", service]

    def alb(metric: str, stat: str, label: str) -> list[Any]:
        return [ALB_NAMESPACE, metric, *target, {"stat": stat, "label": label}]

    widgets: list[tuple[str, list[list[Any]], dict[str, Any]]] = [
        ("Requests a minute", [alb("RequestCount", "Sum", "requests")], {}),
        (
            "4xx and 5xx a minute",
            [
                alb("HTTPCode_Target_4XX_Count", "Sum", "4xx from the tasks"),
                alb("HTTPCode_Target_5XX_Count", "Sum", "5xx from the tasks"),
                [
                    ALB_NAMESPACE,
                    "HTTPCode_ELB_5XX_Count",
                    "LoadBalancer",
                    lb,
                    {"stat": "Sum", "label": "5xx from the load balancer"},
                ],
            ],
            {},
        ),
        (
            "Response time (seconds)",
            [
                alb("TargetResponseTime", "p50", "p50"),
                alb("TargetResponseTime", "p99", "p99"),
            ],
            {
                "annotations": {
                    "horizontal": [
                        {"label": "p99 alarm", "value": latency_threshold_seconds(settings)}
                    ]
                }
            },
        ),
        (
            "Model inference time (ms, from the app's EMF log lines)",
            [
                [
                    EMF_NAMESPACE,
                    EMF_METRIC,
                    EMF_DIMENSION,
                    settings.name,
                    {"stat": "p50", "label": "p50"},
                ],
                [
                    EMF_NAMESPACE,
                    EMF_METRIC,
                    EMF_DIMENSION,
                    settings.name,
                    {"stat": "p99", "label": "p99"},
                ],
            ],
            {},
        ),
        (
            "Healthy targets",
            [
                alb("HealthyHostCount", "Minimum", "healthy"),
                alb("UnHealthyHostCount", "Maximum", "unhealthy"),
            ],
            {
                "annotations": {
                    "horizontal": [{"label": "minReplicas", "value": settings.min_replicas}]
                }
            },
        ),
        (
            "CPU and memory (% of the task size)",
            [
                [ECS_NAMESPACE, "CPUUtilization", *ecs, {"stat": "Average", "label": "CPU"}],
                [ECS_NAMESPACE, "MemoryUtilization", *ecs, {"stat": "Average", "label": "memory"}],
            ],
            {"yAxis": {"left": {"min": 0, "max": 100}}},
        ),
    ]
    if settings.aws.container_insights:
        widgets.append(
            (
                "Running vs desired tasks",
                [
                    [
                        INSIGHTS_NAMESPACE,
                        "RunningTaskCount",
                        *ecs,
                        {"stat": "Average", "label": "running"},
                    ],
                    [
                        INSIGHTS_NAMESPACE,
                        "DesiredTaskCount",
                        *ecs,
                        {"stat": "Average", "label": "desired"},
                    ],
                ],
                {},
            )
        )
    body: list[dict[str, Any]] = []
    for index, (title, metrics, extra) in enumerate(widgets):
        body.append(
            {
                "type": "metric",
                "x": (index % 2) * WIDGET_WIDTH,
                "y": (index // 2) * WIDGET_HEIGHT,
                "width": WIDGET_WIDTH,
                "height": WIDGET_HEIGHT,
                "properties": {
                    "title": title,
                    "view": "timeSeries",
                    "region": region,
                    "period": PERIOD_SECONDS,
                    "metrics": metrics,
                    **extra,
                },
            }
        )
    if not settings.aws.container_insights:
        body.append(
            {
                "type": "text",
                "x": 0,
                "y": (len(widgets) + 1) // 2 * WIDGET_HEIGHT,
                "width": DASHBOARD_WIDTH,
                "height": 2,
                "properties": {
                    "markdown": (
                        "Running vs desired tasks needs Container Insights "
                        "(`pulumi config set containerInsights true`); healthy targets stand "
                        "in for it here."
                    )
                },
            }
        )
    return {"widgets": body}


def _query(
    query_id: str, namespace: str, metric: str, dimensions: dict[str, Any], stat: str
) -> Query:
    """One metric of a metric-math alarm, read but not itself alarmed on."""
    return Query(
        id=query_id,
        metric=Metric(
            namespace=namespace,
            metric_name=metric,
            dimensions=dimensions,
            period=PERIOD_SECONDS,
            stat=stat,
        ),
        return_data=False,
    )
