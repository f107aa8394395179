"""The aws target's autoscaling: the ECS service's scalable target and a CPU tracking policy."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationArgs as TargetTrackingArgs,
)
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs as MetricArgs,
)

from infra.aws.options import child
from infra.settings import Settings

# Target tracking: scale out fast on load, scale in slowly so a burst does not flap the service.
SCALE_OUT_COOLDOWN_SECONDS = 60
SCALE_IN_COOLDOWN_SECONDS = 300


def autoscaling(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    settings: Settings,
    cluster: aws.ecs.Cluster,
    service: aws.ecs.Service,
) -> aws.appautoscaling.Target:
    """Scales the service between minReplicas and maxReplicas on its average CPU.

    Returns:
        The scalable target, for further policies (`request_scaling`).
    """
    target = aws.appautoscaling.Target(
        f"{name}-scaling",
        service_namespace="ecs",
        scalable_dimension="ecs:service:DesiredCount",
        resource_id=pulumi.Output.concat("service/", cluster.name, "/", service.name),
        min_capacity=settings.min_replicas,
        max_capacity=settings.max_replicas,
        opts=child(parent, provider),
    )
    aws.appautoscaling.Policy(
        f"{name}-cpu",
        policy_type="TargetTrackingScaling",
        service_namespace=target.service_namespace,
        scalable_dimension=target.scalable_dimension,
        resource_id=target.resource_id,
        target_tracking_scaling_policy_configuration=TargetTrackingArgs(
            target_value=float(settings.target_cpu_percent),
            predefined_metric_specification=MetricArgs(
                predefined_metric_type="ECSServiceAverageCPUUtilization"
            ),
            scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
            scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
        ),
        opts=child(parent, provider),
    )
    return target


def request_scaling(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    settings: Settings,
    target: aws.appautoscaling.Target,
    lb: aws.lb.LoadBalancer,
    target_group: aws.lb.TargetGroup,
) -> aws.appautoscaling.Policy:
    """`requestsPerReplica`: a second target-tracking policy on ALBRequestCountPerTarget.

    With two policies, Application Auto Scaling scales out when either asks for more tasks and in
    only when both allow fewer, so CPU still adds replicas for a model that is CPU bound. The
    metric is the target group's requests a minute divided by its healthy targets; its resource
    label is `app/<lb-name>/<id>/targetgroup/<tg-name>/<id>`, the two ARN suffixes joined.
    """
    return aws.appautoscaling.Policy(
        f"{name}-requests",
        policy_type="TargetTrackingScaling",
        service_namespace=target.service_namespace,
        scalable_dimension=target.scalable_dimension,
        resource_id=target.resource_id,
        target_tracking_scaling_policy_configuration=TargetTrackingArgs(
            target_value=float(settings.observability.requests_per_replica),
            predefined_metric_specification=MetricArgs(
                predefined_metric_type="ALBRequestCountPerTarget",
                resource_label=pulumi.Output.concat(lb.arn_suffix, "/", target_group.arn_suffix),
            ),
            scale_out_cooldown=SCALE_OUT_COOLDOWN_SECONDS,
            scale_in_cooldown=SCALE_IN_COOLDOWN_SECONDS,
        ),
        opts=child(parent, provider),
    )
