"""The aws target's edge: the internet-facing ALB, its health-checked target group, listeners."""

from __future__ import annotations

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
    target_group = aws.lb.TargetGroup(
        f"{name}-tg",
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
