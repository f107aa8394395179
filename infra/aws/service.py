"""The aws target's component: `FargateService` composes the rest and runs the ECS service."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.aws.domain import alias_record, domain_certificate, manual_dns_records
from infra.aws.edge import load_balancer
from infra.aws.iam import roles
from infra.aws.network import network, security_groups
from infra.aws.options import child, invoke
from infra.aws.registry import image
from infra.aws.scaling import autoscaling
from infra.aws.secrets import API_KEYS_ENV, api_keys_secret
from infra.aws.task import CONTAINER_NAME, task_definition
from infra.aws.waf import web_acl
from infra.settings import AwsSettings, Settings

COMPONENT_TYPE = "echo-service:aws:FargateService"

# Seconds the service ignores failing ALB health checks of a new task while it starts.
HEALTH_CHECK_GRACE_PERIOD_SECONDS = 30
# Rolling deployments: start the new tasks before stopping the old ones, never below capacity.
DEPLOYMENT_MINIMUM_HEALTHY_PERCENT = 100
DEPLOYMENT_MAXIMUM_PERCENT = 200


class FargateService(pulumi.ComponentResource):
    """The endpoint on ECS Fargate behind an internet-facing Application Load Balancer.

    Attributes:
        url: `http://<ALB DNS name>`, or `https://` when a certificate is configured.
        image: The deployed image by digest, `<registry>/<repository>@sha256:...`.
        cluster: The ECS cluster's name.
        service: The ECS service's name.
        log_group: The CloudWatch log group the containers log to.
        exports: The stack outputs: url, image, cluster, service, logGroup, loadBalancer, region.
    """

    url: pulumi.Output[str]
    image: pulumi.Output[str]
    cluster: pulumi.Output[str]
    service: pulumi.Output[str]
    log_group: pulumi.Output[str]
    exports: dict[str, pulumi.Output]

    def __init__(
        self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        """Creates every resource of the aws target.

        Args:
            name: The component's name; children's names start with it.
            settings: Validated settings; `settings.aws` must be set.
            opts: Options for the component itself.
        """
        super().__init__(COMPONENT_TYPE, name, None, opts)
        if settings.aws is None:
            raise ValueError("FargateService needs settings.aws (the stack's cloud must be aws)")
        aws_settings: AwsSettings = settings.aws

        provider = aws.Provider(
            f"{name}-aws",
            region=aws_settings.region,
            # Tags once, here: every resource this provider creates carries them.
            default_tags=aws.ProviderDefaultTagsArgs(tags=settings.labels),
            opts=pulumi.ResourceOptions(parent=self),
        )
        caller = aws.get_caller_identity_output(opts=invoke(self, provider))
        # arn:<partition>:iam::<account>:..., so the program also works in aws-cn and GovCloud.
        partition = caller.arn.apply(lambda arn: arn.split(":")[1])

        image_ref = image(self, name, provider, settings)
        vpc_id, subnet_ids, routes = network(self, name, provider, aws_settings)
        alb_sg, task_sg = security_groups(self, name, provider, vpc_id, settings)
        edge = settings.edge
        # `domain`: an ACM certificate (unless certificateArn brings one); its ARN is None
        # while it waits for DNS records the user adds by hand (see infra/aws/domain.py).
        domain = (
            domain_certificate(self, name, provider, settings)
            if edge.domain and not aws_settings.certificate_arn
            else None
        )
        lb, target_group, listeners = load_balancer(
            self,
            name,
            provider,
            vpc_id,
            subnet_ids,
            alb_sg,
            settings,
            routes,
            certificate_arn=domain.certificate_arn if domain else None,
        )
        https = bool(aws_settings.certificate_arn or (domain and domain.certificate_arn))
        extra_exports: dict[str, pulumi.Output] = {}
        if domain and domain.zone_id:
            alias_record(self, name, provider, settings, domain.zone_id, lb)
        elif domain:
            extra_exports["dnsRecords"] = manual_dns_records(
                domain.certificate, lb, settings, issued=domain.certificate_arn is not None
            )
        if edge.web_acl:
            web_acl(self, name, provider, settings, lb)

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            retention_in_days=settings.log_retention_days,
            opts=child(self, provider),
        )
        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[
                aws.ecs.ClusterSettingArgs(
                    name="containerInsights",
                    value="enabled" if aws_settings.container_insights else "disabled",
                )
            ],
            opts=child(self, provider),
        )
        execution_role, execution_policy, task_role = roles(
            self, name, provider, partition, caller.account_id
        )
        secrets: dict[str, pulumi.Input[str]] = {}
        secret_policies: list[pulumi.Resource] = []
        if edge.api_keys is not None:
            value_from, read_policy = api_keys_secret(
                self, name, provider, settings, execution_role
            )
            secrets[API_KEYS_ENV] = value_from
            secret_policies.append(read_policy)
        task = task_definition(
            self,
            name,
            provider,
            settings,
            image_ref,
            log_group,
            execution_role,
            execution_policy,
            task_role,
            secrets=secrets,
            after=secret_policies,
        )
        service = _service(
            self,
            name,
            provider,
            settings,
            cluster,
            task,
            subnet_ids,
            task_sg,
            target_group,
            [*listeners, *routes],
        )
        autoscaling(self, name, provider, settings, cluster, service)

        scheme = "https" if https else "http"
        # On its own domain once HTTPS is on (the certificate names the domain, not the ALB).
        host = edge.domain if https and edge.domain else lb.dns_name
        self.url = pulumi.Output.concat(scheme, "://", host)
        self.image = image_ref
        self.cluster = cluster.name
        # Resolving the service's name also checks that the rollout really deployed this
        # program's task definition (see `deployed_or_fail`).
        self.service = pulumi.Output.all(service.name, service.task_definition, task.arn).apply(
            lambda args: deployed_or_fail(*args)
        )
        self.log_group = log_group.name
        self.exports = {
            "url": self.url,
            "image": self.image,
            "cluster": self.cluster,
            "service": self.service,
            "logGroup": self.log_group,
            "loadBalancer": lb.dns_name,
            "region": pulumi.Output.from_input(aws_settings.region),
            **extra_exports,
        }
        self.register_outputs(self.exports)


def _service(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    settings: Settings,
    cluster: aws.ecs.Cluster,
    task_definition: aws.ecs.TaskDefinition,
    subnet_ids: Sequence[pulumi.Input[str]],
    task_sg: aws.ec2.SecurityGroup,
    target_group: aws.lb.TargetGroup,
    after: list[pulumi.Resource],
) -> aws.ecs.Service:
    return aws.ecs.Service(
        f"{name}-service",
        cluster=cluster.arn,
        task_definition=task_definition.arn,
        launch_type="FARGATE",
        desired_count=settings.min_replicas,
        network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
            subnets=subnet_ids,
            security_groups=[task_sg.id],
            # Public subnets without a NAT gateway: a public IP is how a task reaches ECR.
            # Inbound, the task's security group still admits only the load balancer.
            assign_public_ip=True,
        ),
        load_balancers=[
            aws.ecs.ServiceLoadBalancerArgs(
                target_group_arn=target_group.arn,
                container_name=CONTAINER_NAME,
                container_port=settings.container_port,
            )
        ],
        health_check_grace_period_seconds=HEALTH_CHECK_GRACE_PERIOD_SECONDS,
        deployment_minimum_healthy_percent=DEPLOYMENT_MINIMUM_HEALTHY_PERCENT,
        deployment_maximum_percent=DEPLOYMENT_MAXIMUM_PERCENT,
        # A new image whose tasks keep failing is stopped after a few failures and the
        # previous task definition is restored, instead of `pulumi up` hanging.
        deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
            enable=True, rollback=True
        ),
        # `pulumi up` returns only when the new tasks are running and healthy.
        wait_for_steady_state=True,
        # After a zone outage, ECS moves tasks back until they are spread over the zones.
        availability_zone_rebalancing="ENABLED",
        propagate_tags="SERVICE",
        enable_ecs_managed_tags=True,
        opts=child(
            parent,
            provider,
            # ECS rejects a target group that no listener attaches to a load balancer, and
            # tasks in new public subnets need their route to ECR before they start.
            depends_on=after,
            # The autoscaler owns the running count between deploys; without this, every
            # `pulumi up` would reset it to minReplicas, under load too. Raising minReplicas
            # still raises the count: the scaling target's new minimum scales the service out.
            ignore_changes=["desiredCount"],
        ),
    )


def deployed_or_fail(service_name: str, deployed: str, wanted: str) -> str:
    """Fails `pulumi up` when the service runs another task definition than the one deployed.

    With rollback on, ECS's circuit breaker restores the previous task definition when the new
    tasks keep failing, and the service becomes steady again. Older releases of the upstream
    terraform-provider-aws report that wait as a success (hashicorp/terraform-provider-aws#19519);
    recent ones follow the ECS service deployment and should fail on its ROLLBACK_SUCCESSFUL
    status themselves (not verified against a real account). Either way the service then
    reports the old task definition, which this catches, as a backstop that does not depend on
    the provider version. It runs only on known values: not in a preview of a new task
    definition, and a no-op update compares the same two ARNs from the state.

    Returns:
        The service's name, when the deployed task definition is the wanted one.

    Raises:
        pulumi.RunError: when the service rolled back.
    """
    if deployed and wanted and deployed != wanted:
        raise pulumi.RunError(
            f"ECS service {service_name} rolled back to {deployed}: the new tasks ({wanted}) "
            "failed to start or to pass health checks, and the deployment circuit breaker "
            "restored the previous version. Check the logs: "
            "`aws logs tail $(pulumi stack output logGroup) --follow`."
        )
    return service_name
