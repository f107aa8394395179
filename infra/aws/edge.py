"""The aws target's edge: the internet-facing ALB, its health-checked target group, listeners."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.aws.options import child
from infra.settings import READINESS_PATH, Settings

HTTP_PORT = 80
HTTPS_PORT = 443
# AWS's recommended ALB policy: TLS 1.3 and 1.2 only. Source: ELB docs, "Security policies for
# your Application Load Balancer".
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"

# ALB health checks: ELBv2 allows intervals of 5-300 s and thresholds of 2-10, with the timeout
# shorter than the interval. 10 s x 2 checks puts a new task in service in about 20 s.
HEALTH_CHECK_INTERVAL_SECONDS = 10
HEALTH_CHECK_TIMEOUT_SECONDS = 5
HEALTHY_THRESHOLD = 2
UNHEALTHY_THRESHOLD = 3
# Seconds the ALB keeps an idle connection (to the client and to a target) open; AWS's default,
# set explicitly because the server's keep-alive (task.py, SERVER_KEEPALIVE_TIMEOUT_SECONDS) must
# outlast it: AWS recommends a target keep-alive longer than the ALB's idle timeout, or the ALB
# may reuse a connection the server has just closed and answer 502. Source: ELB docs,
# "Application Load Balancers", Connection idle timeout.
ALB_IDLE_TIMEOUT_SECONDS = 60

# Timeouts of the server, pinned against the ALB's idle timeout (60 s by default) rather than left
# to the app's defaults, so the relationship is stated and tested here:
# - the server keeps an idle keep-alive connection longer than the ALB does, so the ALB always
#   closes first and never sends a request down a connection the server is closing (a 502);
# - one prediction may run for less than the ALB's idle timeout: a response with no bytes for
#   longer than that is cut off by the ALB with a 504, so the server's own limit answers first.
# With `timeoutSeconds` raised past the ALB's default, the idle timeout follows it (see
# alb_timeouts): a prediction must finish, and its queue wait with it, before the ALB gives up.
SERVER_KEEPALIVE_TIMEOUT_SECONDS = 75
REQUEST_TIMEOUT_SECONDS = 30
assert REQUEST_TIMEOUT_SECONDS < ALB_IDLE_TIMEOUT_SECONDS < SERVER_KEEPALIVE_TIMEOUT_SECONDS
# Margins: the ALB waits this much longer than one prediction may run (a request also waits in
# the queue), and the server keeps idle connections this much longer than the ALB.
IDLE_MARGIN_SECONDS = 30
KEEPALIVE_MARGIN_SECONDS = 15
# ELBv2 LoadBalancerAttribute idle_timeout.timeout_seconds: 1-4000 s.
ALB_MAX_IDLE_TIMEOUT_SECONDS = 4000


def alb_timeouts(settings: Settings) -> tuple[int, int, int]:
    """(TIMEOUT, the ALB's idle timeout, KEEPALIVE_TIMEOUT), ordered as the comments above say."""
    timeout = settings.server.timeout_seconds or REQUEST_TIMEOUT_SECONDS
    idle = min(
        max(ALB_IDLE_TIMEOUT_SECONDS, timeout + IDLE_MARGIN_SECONDS), ALB_MAX_IDLE_TIMEOUT_SECONDS
    )
    return timeout, idle, max(SERVER_KEEPALIVE_TIMEOUT_SECONDS, idle + KEEPALIVE_MARGIN_SECONDS)


# AWS's default deregistration delay is 300 s: every rollout and every `pulumi destroy` would
# wait five minutes per old task for connections that an echo/model request closes in seconds.
DEREGISTRATION_DELAY_SECONDS = 15


def load_balancer(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    vpc_id: pulumi.Input[str],
    subnet_ids: Sequence[pulumi.Input[str]],
    alb_sg: aws.ec2.SecurityGroup,
    settings: Settings,
    routes: list[pulumi.Resource],
    certificate_arn: pulumi.Input[str] | None = None,
) -> tuple[aws.lb.LoadBalancer, aws.lb.TargetGroup, list[aws.lb.Listener]]:
    """The ALB, its target group, and its listeners: HTTP, or HTTPS plus a redirect from HTTP.

    HTTPS uses `certificate_arn` (the `domain`'s ACM certificate) or else `certificateArn`.
    """
    certificate_arn = certificate_arn or settings.aws.certificate_arn
    lb = aws.lb.LoadBalancer(
        f"{name}-alb",
        load_balancer_type="application",
        internal=False,
        ip_address_type="ipv4",
        subnets=subnet_ids,
        security_groups=[alb_sg.id],
        enable_deletion_protection=settings.deletion_protection,
        # Requests with malformed headers are dropped at the ALB, not passed to the app.
        drop_invalid_header_fields=True,
        idle_timeout=alb_timeouts(settings)[1],
        # Internet-facing: created after, and deleted before, the internet gateway and routes.
        opts=child(parent, provider, depends_on=routes),
    )
    target_group = _target_group(parent, f"{name}-tg", provider, vpc_id, settings)
    forward = aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)
    if not certificate_arn:
        http = aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=lb.arn,
            port=HTTP_PORT,
            protocol="HTTP",
            default_actions=[forward],
            opts=child(parent, provider),
        )
        return lb, target_group, [http]

    https = aws.lb.Listener(
        f"{name}-https",
        load_balancer_arn=lb.arn,
        port=HTTPS_PORT,
        protocol="HTTPS",
        ssl_policy=TLS_POLICY,
        certificate_arn=certificate_arn,
        default_actions=[forward],
        opts=child(parent, provider),
    )
    http = aws.lb.Listener(
        f"{name}-http",
        load_balancer_arn=lb.arn,
        port=HTTP_PORT,
        protocol="HTTP",
        default_actions=[
            aws.lb.ListenerDefaultActionArgs(
                type="redirect",
                redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                    protocol="HTTPS", port=str(HTTPS_PORT), status_code="HTTP_301"
                ),
            )
        ],
        opts=child(parent, provider),
    )
    return lb, target_group, [https, http]


def _target_group(
    parent: pulumi.ComponentResource,
    resource_name: str,
    provider: aws.Provider,
    vpc_id: pulumi.Input[str],
    settings: Settings,
) -> aws.lb.TargetGroup:
    """A target group of the service's tasks, health-checked on readiness."""
    return aws.lb.TargetGroup(
        resource_name,
        # Fargate tasks (awsvpc) register by IP address.
        target_type="ip",
        protocol="HTTP",
        port=settings.container_port,
        vpc_id=vpc_id,
        deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
        health_check=aws.lb.TargetGroupHealthCheckArgs(
            enabled=True,
            path=READINESS_PATH,
            protocol="HTTP",
            port="traffic-port",
            matcher="200",
            interval=HEALTH_CHECK_INTERVAL_SECONDS,
            timeout=HEALTH_CHECK_TIMEOUT_SECONDS,
            healthy_threshold=HEALTHY_THRESHOLD,
            unhealthy_threshold=UNHEALTHY_THRESHOLD,
        ),
        opts=child(parent, provider),
    )


# Rollouts (issue 19): ECS's canary and linear deployments shift traffic between two target
# groups by rewriting the weights of one listener rule. The rule matches every path at the
# highest priority, so it, not the listener's default action, routes every request.
PRODUCTION_RULE_PRIORITY = 1
# ECS's managed policy for the role it assumes to rewrite the rule and register the tasks (AWS
# ECS developer guide, "Amazon ECS infrastructure IAM role for load balancers").
LOAD_BALANCER_ROLE_POLICY = "policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"


def traffic_shifting(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    vpc_id: pulumi.Input[str],
    settings: Settings,
    target_group: aws.lb.TargetGroup,
    listener: aws.lb.Listener,
    partition: pulumi.Input[str],
) -> tuple[aws.lb.TargetGroup, aws.lb.ListenerRule, aws.iam.Role, aws.iam.RolePolicyAttachment]:
    """What ECS needs to shift traffic: the alternate target group, the production listener rule
    on `listener` (the one users reach: HTTPS when there is a certificate, else HTTP) and the
    role ECS assumes to change the rule's weights.

    The two target groups take turns: a deploy registers the new tasks in the group without
    traffic, moves the rule's weight to it step by step, and the old group is the spare until
    the next deploy (AWS ECS developer guide, "Application Load Balancer resources for
    blue/green, linear, and canary deployments").
    """
    alternate = _target_group(parent, f"{name}-tg-alt", provider, vpc_id, settings)
    rule = aws.lb.ListenerRule(
        f"{name}-production",
        listener_arn=listener.arn,
        priority=PRODUCTION_RULE_PRIORITY,
        conditions=[
            aws.lb.ListenerRuleConditionArgs(
                path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=["/*"])
            )
        ],
        actions=[
            aws.lb.ListenerRuleActionArgs(
                type="forward",
                forward=aws.lb.ListenerRuleActionForwardArgs(
                    target_groups=[
                        aws.lb.ListenerRuleActionForwardTargetGroupArgs(
                            arn=target_group.arn, weight=100
                        ),
                        aws.lb.ListenerRuleActionForwardTargetGroupArgs(
                            arn=alternate.arn, weight=0
                        ),
                    ]
                ),
            )
        ],
        # ECS owns the weights after the first deploy (they end 0/100 every other deploy): a
        # `pulumi up --refresh` that put them back to 100/0 would send every request to the
        # group without tasks.
        opts=child(parent, provider, ignore_changes=["actions"]),
    )
    role = aws.iam.Role(
        f"{name}-ecs-lb",
        description="echo-service: ECS shifts the ALB's traffic between the two target groups",
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
        opts=child(parent, provider),
    )
    attachment = aws.iam.RolePolicyAttachment(
        f"{name}-ecs-lb",
        role=role.name,
        policy_arn=pulumi.Output.concat("arn:", partition, ":iam::aws:", LOAD_BALANCER_ROLE_POLICY),
        opts=child(parent, provider),
    )
    return alternate, rule, role, attachment
