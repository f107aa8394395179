"""The aws target: the endpoint on ECS Fargate behind an Application Load Balancer.

`FargateService` builds, from the validated settings: an ECR repository and the image pushed to
it by digest; a VPC with two public subnets (or the user's own VPC and subnets); an internet-facing
ALB with a health-checked `ip` target group; an ECS cluster, a Fargate task definition and a
service that waits for steady state and rolls back a broken image; CPU target-tracking autoscaling.
Every AWS resource goes through one explicit provider, whose `default_tags` tag them all.

One concern a module: `service` (the component and the ECS service), `registry` (ECR and the
image), `network` (VPC, subnets, security groups), `edge` (ALB, target group, listeners), `iam`
(roles), `task` (task and container definitions), `scaling` (autoscaling), and the public edge's
optional parts: `domain` (ACM certificate, Route 53 records), `secrets` (the API keys in Secrets
Manager), `waf` (the web ACL's rate limit). Each helper takes the
component as `parent`, so every resource's URN is what it was when this was one module.
"""

from infra.aws.edge import (
    DEREGISTRATION_DELAY_SECONDS,
    HEALTH_CHECK_INTERVAL_SECONDS,
    HEALTH_CHECK_TIMEOUT_SECONDS,
    HEALTHY_THRESHOLD,
    HTTP_PORT,
    HTTPS_PORT,
    TLS_POLICY,
    UNHEALTHY_THRESHOLD,
)
from infra.aws.iam import EXECUTION_ROLE_POLICY
from infra.aws.network import (
    FARGATE_UNSUPPORTED_ZONE_IDS,
    SUBNET_CIDRS,
    VPC_CIDR,
    ZONE_COUNT,
    ZONE_OPT_IN_NOT_REQUIRED,
    pick_zone,
)
from infra.aws.registry import ECR_KEEP_IMAGES, registry_host
from infra.aws.scaling import SCALE_IN_COOLDOWN_SECONDS, SCALE_OUT_COOLDOWN_SECONDS
from infra.aws.service import (
    COMPONENT_TYPE,
    DEPLOYMENT_MAXIMUM_PERCENT,
    DEPLOYMENT_MINIMUM_HEALTHY_PERCENT,
    HEALTH_CHECK_GRACE_PERIOD_SECONDS,
    FargateService,
    deployed_or_fail,
)
from infra.aws.task import (
    CONTAINER_HEALTH_INTERVAL_SECONDS,
    CONTAINER_HEALTH_RETRIES,
    CONTAINER_HEALTH_START_PERIOD_SECONDS,
    CONTAINER_HEALTH_TIMEOUT_SECONDS,
    CONTAINER_NAME,
    CPU_ARCHITECTURES,
    LOG_STREAM_PREFIX,
    STOP_TIMEOUT_SECONDS,
    TMP_PATH,
    TMP_VOLUME,
    container_definition,
)

__all__ = [
    "COMPONENT_TYPE",
    "CONTAINER_HEALTH_INTERVAL_SECONDS",
    "CONTAINER_HEALTH_RETRIES",
    "CONTAINER_HEALTH_START_PERIOD_SECONDS",
    "CONTAINER_HEALTH_TIMEOUT_SECONDS",
    "CONTAINER_NAME",
    "CPU_ARCHITECTURES",
    "DEPLOYMENT_MAXIMUM_PERCENT",
    "DEPLOYMENT_MINIMUM_HEALTHY_PERCENT",
    "DEREGISTRATION_DELAY_SECONDS",
    "ECR_KEEP_IMAGES",
    "EXECUTION_ROLE_POLICY",
    "FARGATE_UNSUPPORTED_ZONE_IDS",
    "HEALTHY_THRESHOLD",
    "HEALTH_CHECK_GRACE_PERIOD_SECONDS",
    "HEALTH_CHECK_INTERVAL_SECONDS",
    "HEALTH_CHECK_TIMEOUT_SECONDS",
    "HTTPS_PORT",
    "HTTP_PORT",
    "LOG_STREAM_PREFIX",
    "SCALE_IN_COOLDOWN_SECONDS",
    "SCALE_OUT_COOLDOWN_SECONDS",
    "STOP_TIMEOUT_SECONDS",
    "SUBNET_CIDRS",
    "TLS_POLICY",
    "TMP_PATH",
    "TMP_VOLUME",
    "UNHEALTHY_THRESHOLD",
    "VPC_CIDR",
    "ZONE_COUNT",
    "ZONE_OPT_IN_NOT_REQUIRED",
    "FargateService",
    "container_definition",
    "deployed_or_fail",
    "pick_zone",
    "registry_host",
]
