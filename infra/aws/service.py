"""The aws target's component: `FargateService` composes the rest and runs the ECS service."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.aws.alarms import alert_topic, capacity_alarms, dashboard, deployment_alarms
from infra.aws.domain import alias_record, domain_certificate, manual_dns_records
from infra.aws.edge import load_balancer, traffic_shifting
from infra.aws.iam import roles
from infra.aws.model import model_policy
from infra.aws.network import network, security_groups
from infra.aws.options import child, invoke
from infra.aws.registry import image
from infra.aws.scaling import autoscaling, request_scaling
from infra.aws.secrets import API_KEYS_ENV, api_keys_secret
from infra.aws.task import CONTAINER_NAME, task_definition
from infra.aws.waf import web_acl
from infra.settings import AwsSettings, Settings, rollout_bake_total

COMPONENT_TYPE = "echo-service:aws:FargateService"

# Seconds the service ignores failing ALB health checks of a new task while it starts.
HEALTH_CHECK_GRACE_PERIOD_SECONDS = 30
# Rolling deployments: start the new tasks before stopping the old ones, never below capacity.
DEPLOYMENT_MINIMUM_HEALTHY_PERCENT = 100
DEPLOYMENT_MAXIMUM_PERCENT = 200
# How long `pulumi up` waits for the service to become steady. The provider's default is 20
# minutes for create and update (terraform-provider-aws, internal/service/ecs/service.go,
# `Timeouts`), and a rollback alone, with ECS's launch backoff between failing tasks, has been
# reported to take 18-20 minutes: at 20 the wait could end while ECS is still rolling back,
# with an error that says "timeout" instead of "rolled back". Twice the reported figure.
SERVICE_TIMEOUTS = pulumi.CustomTimeouts(create="40m", update="40m")
SERVICE_TIMEOUT_MINUTES = 40
# `rollout` (issue 19): ECS's strategy names.
ECS_STRATEGIES = {"canary": "CANARY", "linear": "LINEAR"}
# The name the `alarms` block carries when no deployment alarm is on (see no_alarm_name).
NO_ALARM_SUFFIX = "-no-deployment-alarms"


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
            default_tags=aws.ProviderDefaultTagsArgs(
                tags={**aws_settings.default_tags, **settings.labels}
            ),
            # The stack's other `aws:` settings (profile, assumeRoles, allowedAccountIds, ...):
            # an explicit provider reads none of them by itself, unlike the default provider.
            **aws_settings.provider,
            opts=pulumi.ResourceOptions(parent=self),
        )
        caller = aws.get_caller_identity_output(opts=invoke(self, provider))
        # arn:<partition>:iam::<account>:..., so the program also works in aws-cn and GovCloud.
        partition = caller.arn.apply(lambda arn: arn.split(":")[1])

        image_ref = image(self, name, provider, settings)
        vpc_id, subnet_ids, routes = network(self, name, provider, aws_settings)
        alb_sg, task_sg, sg_rules = security_groups(self, name, provider, vpc_id, settings)
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
        # canary or linear: a second target group, the rule ECS shifts and the role it uses.
        # listeners[0] is the one users reach: HTTPS with a certificate (HTTP then only
        # redirects), else HTTP.
        shifting = (
            traffic_shifting(
                self, name, provider, vpc_id, settings, target_group, listeners[0], partition
            )
            if settings.rollout_plan.shifts_traffic
            else None
        )
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
        model_read = []
        if settings.model.enabled:
            model_read = [model_policy(self, name, provider, partition, task_role, settings.model)]
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
            after=[*model_read, *secret_policies],
        )
        monitoring = settings.observability.monitoring
        topic = alert_topic(self, name, provider, settings) if monitoring else None
        rollback_alarms = (
            deployment_alarms(self, name, provider, settings, lb, target_group, topic)
            if monitoring
            else []
        )
        if shifting and monitoring:
            # The same alarms on the other target group: the new version's tasks are in
            # whichever group had no traffic, so between them the alarms always watch the new
            # version's own 5xx rate and latency, whatever share of the traffic it has.
            rollback_alarms += deployment_alarms(
                self, f"{name}-alt", provider, settings, lb, shifting[0], topic
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
            # The rules, too: a task started before its ingress rule (or the ALB's egress rule
            # to the new containerPort) exists fails its health checks and trips the breaker.
            [*listeners, *routes, *sg_rules, *((shifting[1], shifting[3]) if shifting else ())],
            rollback_alarms,
            shifting=(shifting[0], shifting[1], shifting[2]) if shifting else None,
        )
        scaling_target = autoscaling(self, name, provider, settings, cluster, service)
        if settings.observability.requests_per_replica:
            request_scaling(self, name, provider, settings, scaling_target, lb, target_group)
        if monitoring:
            capacity_alarms(
                self,
                name,
                provider,
                settings,
                lb,
                target_group,
                cluster,
                service.name,
                topic,
                alternate=shifting[0] if shifting else None,
            )
            dashboard(self, name, provider, settings, lb, target_group, cluster, service.name)

        scheme = "https" if https else "http"
        # On its own domain once HTTPS is on (the certificate names the domain, not the ALB).
        host = edge.domain if https and edge.domain else lb.dns_name
        self.url = pulumi.Output.concat(scheme, "://", host)
        self.image = image_ref
        self.cluster = cluster.name
        # Resolving the service's name also checks that the service really runs this program's
        # task definition, as ECS reports it now (see `deployed_or_fail`), not as the state
        # remembers it.
        self.service = pulumi.Output.all(
            service.name, running_task_definition(self, provider, cluster, service), task.arn
        ).apply(lambda args: deployed_or_fail(*args))
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
    rollback_alarms: Sequence[aws.cloudwatch.MetricAlarm] = (),
    shifting: tuple[aws.lb.TargetGroup, aws.lb.ListenerRule, aws.iam.Role] | None = None,
) -> aws.ecs.Service:
    # With monitoring, a deployment during which an alarm goes into ALARM is rolled back, as the
    # circuit breaker does for tasks that never get healthy. Without it the block is still sent,
    # switched off: terraform-provider-aws suppresses the diff of a removed `alarms` block
    # (internal/service/ecs/service.go, `DiffSuppressFunc: verify.
    # SuppressMissingOptionalConfigurationBlock`, old "1" and new "0"), and even an update
    # without it leaves DeploymentConfiguration.Alarms as ECS has it, so turning monitoring off
    # would leave ECS watching (and rolling back on) alarms this very `pulumi up` deletes.
    # With rollbackOnAlarm false the alarms exist (and notify) but ECS does not watch them:
    # `enable` true with `rollback` false would still fail a deploy on an alarm ("When the
    # alarms are generated, Amazon ECS sets the service deployment to failed", ECS API
    # reference, DeploymentAlarms) while the new version keeps serving: not "left alone".
    watched = bool(rollback_alarms) and settings.observability.rollback_on_alarm
    alarms = aws.ecs.ServiceAlarmsArgs(
        alarm_names=[alarm.name for alarm in rollback_alarms] or [no_alarm_name(settings)],
        enable=watched,
        rollback=watched,
    )
    # rollout canary or linear: ECS's own traffic shifting. The listener rule and the role's
    # policy must exist first (they are in `after`): ECS checks both when the service is
    # created or its strategy changes. Changing the strategy is an in-place update
    # (terraform-provider-aws: no ForceNew on deployment_configuration). But the block is
    # Optional and Computed there: a stack that stopped sending it would keep ECS's CANARY or
    # LINEAR. So a rolling stack sends ROLLING (ECS's default, nothing changes at run time),
    # and `rollout rolling` after `canary` really goes back.
    # The circuit breaker stays on: ECS documents it, and the alarms, for rolling and blue/green
    # deployments ("Amazon ECS deployment failure detection"); not verified on a real account
    # with CANARY or LINEAR.
    rollout_args: dict = {
        "deployment_configuration": aws.ecs.ServiceDeploymentConfigurationArgs(strategy="ROLLING")
    }
    timeouts = SERVICE_TIMEOUTS
    if shifting is not None:
        alternate, rule, role = shifting
        rollout = settings.rollout_plan
        bake = str(rollout.bake_minutes)
        strategy = ECS_STRATEGIES[rollout.strategy]
        rollout_args["deployment_configuration"] = aws.ecs.ServiceDeploymentConfigurationArgs(
            strategy=strategy,
            # After all traffic moved: how long the old version stays, ready to take it back.
            bake_time_in_minutes=bake,
            canary_configuration=aws.ecs.ServiceDeploymentConfigurationCanaryConfigurationArgs(
                canary_percent=float(rollout.percent), canary_bake_time_in_minutes=bake
            )
            if strategy == "CANARY"
            else None,
            linear_configuration=aws.ecs.ServiceDeploymentConfigurationLinearConfigurationArgs(
                step_percent=float(rollout.percent), step_bake_time_in_minutes=bake
            )
            if strategy == "LINEAR"
            else None,
        )
        advanced = aws.ecs.ServiceLoadBalancerAdvancedConfigurationArgs(
            alternate_target_group_arn=alternate.arn,
            production_listener_rule=rule.arn,
            role_arn=role.arn,
        )
        # `pulumi up` waits for the whole rollout: every bake on top of the usual budget.
        minutes = SERVICE_TIMEOUT_MINUTES + rollout_bake_total(
            rollout.strategy, rollout.percent, rollout.bake_minutes
        )
        timeouts = pulumi.CustomTimeouts(create=f"{minutes}m", update=f"{minutes}m")
    else:
        advanced = None
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
                advanced_configuration=advanced,
            )
        ],
        # The start-up budget, when set: the ALB's failing checks of a task that is still
        # loading its model are ignored that long.
        health_check_grace_period_seconds=settings.server.startup_seconds
        or HEALTH_CHECK_GRACE_PERIOD_SECONDS,
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
        alarms=alarms,
        **rollout_args,
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
            custom_timeouts=timeouts,
        ),
    )


def no_alarm_name(settings: Settings) -> str:
    """The one alarm name of the switched-off `alarms` block: no such alarm exists, none is read.

    Why not an empty list: terraform-provider-aws's `expandAlarms` sends `alarmNames` only when
    the set is not empty, and the Go SDK's ECS client refuses a DeploymentAlarms without it
    ("missing required field, ... Alarms.AlarmNames", service/ecs/validators.go) before the
    request leaves. With `enable` false ECS watches no alarm (ECS API reference,
    DeploymentAlarms). Not verified against a real account.
    """
    return f"{settings.name}{NO_ALARM_SUFFIX}"


def running_task_definition(
    parent: pulumi.ComponentResource,
    provider: aws.Provider,
    cluster: aws.ecs.Cluster,
    service: aws.ecs.Service,
) -> pulumi.Output[str]:
    """The task definition the service runs now, read from ECS after the service's update.

    Why a live read: when the circuit breaker rolls a deployment back, the provider's waiter
    fails before it re-reads the service (terraform-provider-aws, internal/service/ecs/
    service.go: `resourceServiceUpdate` returns the "waiting for ECS Service (...) update"
    error before `resourceServiceRead`), so the state keeps the planned task definition, not
    the one ECS restored, and pulumi-terraform-bridge records it (with the error as an
    initialization error). The next `pulumi up` then sees no difference: the engine only
    re-runs an empty update for the initialization error, which sends nothing to ECS, and would
    succeed while the old image serves. This read (DescribeServices) sees what ECS runs.

    The service's name is an input and the service is a dependency, so the read waits for the
    service's create or update to finish. In a preview of a new service the name is unknown and
    the read is skipped.
    """
    live = aws.ecs.get_service_output(
        cluster_arn=cluster.arn,
        service_name=service.name,
        opts=pulumi.InvokeOutputOptions(parent=parent, provider=provider, depends_on=[service]),
    )
    return live.task_definition


def deployed_or_fail(service_name: str, running: str, wanted: str) -> str:
    """Fails `pulumi up` when the service runs another task definition than this program's.

    With rollback on, ECS's circuit breaker restores the previous task definition when the new
    tasks keep failing. Recent releases of terraform-provider-aws fail that update themselves
    (its waiter treats the deployment's ROLLBACK_SUCCESSFUL status as an error), but they keep
    the planned task definition in the state (see `running_task_definition`), so the next `up`
    would find nothing to change. `running` is read from ECS, so that next `up` fails here, and
    says how to deploy again. In a preview it only warns: a preview changes nothing.

    Args:
        service_name: The ECS service's name.
        running: The task definition ECS reports for the service now (DescribeServices).
        wanted: The task definition this program registered.

    Returns:
        The service's name, when the running task definition is the wanted one.

    Raises:
        pulumi.RunError: when the service runs another task definition (it rolled back).
    """
    if running and wanted and running != wanted:
        message = (
            f"ECS service {service_name} runs {running}, not {wanted}: the last deployment "
            "was rolled back by the deployment circuit breaker (the new tasks failed to start "
            "or to pass health checks) or, with monitoring, by a deployment alarm, and the "
            "previous version still serves. Check the logs: "
            "`aws logs tail $(pulumi stack output logGroup) --since 1h`. Then fix the app and "
            "run `pulumi up --refresh`: the refresh lets Pulumi see the version ECS restored, "
            "so it deploys the new one again."
        )
        if pulumi.runtime.is_dry_run():
            pulumi.log.warn(message)
        else:
            raise pulumi.RunError(message)
    return service_name
