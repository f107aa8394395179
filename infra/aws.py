"""The aws target: the endpoint on ECS Fargate behind an Application Load Balancer.

`FargateService` builds, from the validated settings: an ECR repository and the image pushed to
it by digest; a VPC with two public subnets (or the user's own VPC and subnets); an internet-facing
ALB with a health-checked `ip` target group; an ECS cluster, a Fargate task definition and a
service that waits for steady state and rolls back a broken image; CPU target-tracking autoscaling.
Every AWS resource goes through one explicit provider, whose `default_tags` tag them all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationArgs as TargetTrackingArgs,
)
from pulumi_aws.appautoscaling import (
    PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs as MetricArgs,
)

from infra.image import build_and_push
from infra.settings import HEALTH_CHECK_PATH, AwsSettings, Settings

COMPONENT_TYPE = "echo-service:aws:FargateService"

# The container's name in the task definition; the service's load balancer block refers to it.
CONTAINER_NAME = "app"

# Images the ECR lifecycle policy keeps. Rollbacks (the circuit breaker's, or a user's) need the
# previous images still in the repository, so keep a handful rather than only the newest.
ECR_KEEP_IMAGES = 10

# The new VPC: one /16, two /20 public subnets. An ALB needs subnets in at least two
# availability zones (ELBv2 CreateLoadBalancer); two is also what survives the loss of one zone.
VPC_CIDR = "10.0.0.0/16"
SUBNET_CIDRS = ("10.0.0.0/20", "10.0.16.0/20")
ZONE_COUNT = len(SUBNET_CIDRS)
# Zone ids where Fargate cannot run tasks (AWS docs, "Supported Regions for Amazon ECS on AWS
# Fargate": us-west-1 supports only usw1-az1 and usw1-az3, ap-northeast-1 only apne1-az1, -az2
# and -az4), so a new VPC never puts a subnet there.
FARGATE_UNSUPPORTED_ZONE_IDS = ("usw1-az2", "apne1-az3")
# The opt-in status of a region's regular zones (EC2 DescribeAvailabilityZones, OptInStatus);
# Local and Wavelength Zones are "opted-in" or "not-opted-in".
ZONE_OPT_IN_NOT_REQUIRED = "opt-in-not-required"

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
# AWS's default deregistration delay is 300 s: every rollout and every `pulumi destroy` would
# wait five minutes per old task for connections that an echo/model request closes in seconds.
DEREGISTRATION_DELAY_SECONDS = 15

# ECS container health check (RegisterTaskDefinition limits: interval 5-300 s, timeout 2-60 s,
# retries 1-10, start period 0-300 s). The image has Python, not curl, so Python does the GET.
CONTAINER_HEALTH_INTERVAL_SECONDS = 10
CONTAINER_HEALTH_TIMEOUT_SECONDS = 5
CONTAINER_HEALTH_RETRIES = 3
CONTAINER_HEALTH_START_PERIOD_SECONDS = 15
# Seconds ECS waits after SIGTERM before SIGKILL (Fargate allows up to 120): enough for the server
# to finish in-flight requests; the ALB has stopped sending new ones by then.
STOP_TIMEOUT_SECONDS = 30
# Seconds the service ignores failing ALB health checks of a new task while it starts.
HEALTH_CHECK_GRACE_PERIOD_SECONDS = 30
# Rolling deployments: start the new tasks before stopping the old ones, never below capacity.
DEPLOYMENT_MINIMUM_HEALTHY_PERCENT = 100
DEPLOYMENT_MAXIMUM_PERCENT = 200

# Target tracking: scale out fast on load, scale in slowly so a burst does not flap the service.
SCALE_OUT_COOLDOWN_SECONDS = 60
SCALE_IN_COOLDOWN_SECONDS = 300

# The read-only root filesystem leaves one writable path, /tmp (Python's tempfile, for a model
# library that wants one), backed by the task's ephemeral storage.
TMP_VOLUME = "tmp"
TMP_PATH = "/tmp"

LOG_STREAM_PREFIX = "app"

EXECUTION_ROLE_POLICY = "policy/service-role/AmazonECSTaskExecutionRolePolicy"

CPU_ARCHITECTURES = {"linux/amd64": "X86_64", "linux/arm64": "ARM64"}


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
        self._name = name

        self._provider = aws.Provider(
            f"{name}-aws",
            region=aws_settings.region,
            # Tags once, here: every resource this provider creates carries them.
            default_tags=aws.ProviderDefaultTagsArgs(tags=settings.labels),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._invoke = pulumi.InvokeOutputOptions(parent=self, provider=self._provider)
        caller = aws.get_caller_identity_output(opts=self._invoke)
        # arn:<partition>:iam::<account>:..., so the program also works in aws-cn and GovCloud.
        partition = caller.arn.apply(lambda arn: arn.split(":")[1])

        image_ref = self._image(settings)
        vpc_id, subnet_ids, routes = self._network(aws_settings)
        alb_sg, task_sg = self._security_groups(vpc_id, settings)
        lb, target_group, listeners = self._load_balancer(
            vpc_id, subnet_ids, alb_sg, settings, routes
        )

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            retention_in_days=settings.log_retention_days,
            opts=self._child(),
        )
        cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[
                aws.ecs.ClusterSettingArgs(
                    name="containerInsights",
                    value="enabled" if aws_settings.container_insights else "disabled",
                )
            ],
            opts=self._child(),
        )
        execution_role, execution_policy, task_role = self._roles(partition, caller.account_id)
        task_definition = self._task_definition(
            settings, image_ref, log_group, execution_role, execution_policy, task_role
        )
        service = self._service(
            settings,
            cluster,
            task_definition,
            subnet_ids,
            task_sg,
            target_group,
            [*listeners, *routes],
        )
        self._autoscaling(settings, cluster, service)

        scheme = "https" if aws_settings.certificate_arn else "http"
        self.url = pulumi.Output.concat(scheme, "://", lb.dns_name)
        self.image = image_ref
        self.cluster = cluster.name
        # Resolving the service's name also checks that the rollout really deployed this
        # program's task definition (see `deployed_or_fail`).
        self.service = pulumi.Output.all(
            service.name, service.task_definition, task_definition.arn
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
        }
        self.register_outputs(self.exports)

    def _child(self, **kwargs) -> pulumi.ResourceOptions:
        """Options for an AWS child: parented to the component, through the explicit provider."""
        return pulumi.ResourceOptions(parent=self, provider=self._provider, **kwargs)

    def _image(self, settings: Settings) -> pulumi.Output[str]:
        name = self._name
        repository = aws.ecr.Repository(
            f"{name}-repo",
            # `pulumi destroy` must succeed with images still in the repository.
            force_delete=True,
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            # Each `pulumi up` pushes the stack's tag again; deployments use the digest anyway.
            image_tag_mutability="MUTABLE",
            opts=self._child(),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-repo-lifecycle",
            repository=repository.name,
            policy=json.dumps(
                {
                    "rules": [
                        {
                            "rulePriority": 1,
                            "description": f"Keep the newest {ECR_KEEP_IMAGES} images",
                            "selection": {
                                "tagStatus": "any",
                                "countType": "imageCountMoreThan",
                                "countNumber": ECR_KEEP_IMAGES,
                            },
                            "action": {"type": "expire"},
                        }
                    ]
                }
            ),
            opts=self._child(),
        )
        # A fresh token on every run (they last 12 hours): the user never runs `docker login`.
        token = aws.ecr.get_authorization_token_output(
            registry_id=repository.registry_id, opts=self._invoke
        )
        _, ref = build_and_push(
            f"{name}-image",
            repository_url=repository.repository_url,
            registry=docker_build.RegistryArgs(
                address=repository.repository_url.apply(registry_host),
                username=token.user_name,
                password=pulumi.Output.secret(token.password),
            ),
            platform=settings.platform,
            tag=settings.stack,
            # Not an AWS resource: the docker-build provider, not self._provider.
            opts=pulumi.ResourceOptions(parent=self),
        )
        return ref

    def _network(
        self, aws_settings: AwsSettings
    ) -> tuple[pulumi.Input[str], Sequence[pulumi.Input[str]], list[pulumi.Resource]]:
        """The VPC and public subnets: the user's, or new ones with no NAT gateway.

        Returns:
            The VPC id, the subnet ids, and the resources that give the new subnets their route
            to the internet (none for the user's own VPC). What has a public address in the
            subnets depends on them: CreateLoadBalancer refuses an internet-facing ALB in a VPC
            whose internet gateway is not attached yet ("VPC ... has no internet gateway"),
            tasks need the route to pull their image, and on `pulumi destroy` the gateway
            cannot be detached while the ALB's or the tasks' public addresses still exist.
        """
        if aws_settings.vpc_id:
            return aws_settings.vpc_id, list(aws_settings.subnet_ids), []

        name = self._name
        # No NAT gateway: one costs about $33 a month (plus $0.045/GB) before any traffic. Tasks
        # sit in public subnets with public IPs instead, so they reach ECR and CloudWatch Logs
        # directly; their security group still admits only the load balancer, on one port.
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=VPC_CIDR,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            opts=self._child(),
        )
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=self._child())
        route_table = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            opts=self._child(),
        )
        zones = aws.get_availability_zones_output(
            state="available",
            exclude_zone_ids=list(FARGATE_UNSUPPORTED_ZONE_IDS),
            # Regular zones only: an account that opted in to a Local or Wavelength Zone gets it
            # listed too, sorted first ("us-west-2-lax-1a" < "us-west-2a"), and Fargate does not
            # run there.
            filters=[
                aws.GetAvailabilityZonesFilterArgs(
                    name="opt-in-status", values=[ZONE_OPT_IN_NOT_REQUIRED]
                )
            ],
            opts=self._invoke,
        )
        subnet_ids = []
        routes: list[pulumi.Resource] = [gateway]
        for index, cidr in enumerate(SUBNET_CIDRS):
            subnet = aws.ec2.Subnet(
                f"{name}-public-{index}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zones.names.apply(lambda names, i=index: pick_zone(names, i)),
                opts=self._child(),
            )
            association = aws.ec2.RouteTableAssociation(
                f"{name}-public-{index}",
                subnet_id=subnet.id,
                route_table_id=route_table.id,
                opts=self._child(),
            )
            subnet_ids.append(subnet.id)
            routes.append(association)
        return vpc.id, subnet_ids, routes

    def _security_groups(
        self, vpc_id: pulumi.Input[str], settings: Settings
    ) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
        """The ALB's group (open on 80/443) and the tasks' (open only to the ALB's group).

        Rules are separate `aws.vpc.SecurityGroup*Rule` resources, as the AWS provider
        recommends: the two groups refer to each other, which inline rules cannot express
        without a dependency cycle, and each rule gets its own description and id.
        """
        name = self._name
        port = settings.container_port
        alb_sg = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            vpc_id=vpc_id,
            description="echo-service load balancer: HTTP(S) from anywhere",
            opts=self._child(),
        )
        task_sg = aws.ec2.SecurityGroup(
            f"{name}-task-sg",
            vpc_id=vpc_id,
            description="echo-service tasks: the container port from the load balancer only",
            opts=self._child(),
        )
        public_ports = [HTTP_PORT] + ([HTTPS_PORT] if settings.aws.certificate_arn else [])
        for public_port in public_ports:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-alb-in-{public_port}",
                security_group_id=alb_sg.id,
                description=f"Port {public_port} from the internet",
                ip_protocol="tcp",
                from_port=public_port,
                to_port=public_port,
                cidr_ipv4="0.0.0.0/0",
                opts=self._child(),
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-out-tasks",
            security_group_id=alb_sg.id,
            description="Requests and health checks to the tasks",
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=task_sg.id,
            opts=self._child(),
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-task-in-alb",
            security_group_id=task_sg.id,
            description="The container port from the load balancer",
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=alb_sg.id,
            opts=self._child(),
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-task-out-all",
            security_group_id=task_sg.id,
            # Image pulls from ECR and logs to CloudWatch go over the internet (no NAT, no VPC
            # endpoints); the user's model may call out too.
            description="All outbound traffic (ECR, CloudWatch Logs, the model's own calls)",
            ip_protocol="-1",
            cidr_ipv4="0.0.0.0/0",
            opts=self._child(),
        )
        return alb_sg, task_sg

    def _load_balancer(
        self,
        vpc_id: pulumi.Input[str],
        subnet_ids: Sequence[pulumi.Input[str]],
        alb_sg: aws.ec2.SecurityGroup,
        settings: Settings,
        routes: list[pulumi.Resource],
    ) -> tuple[aws.lb.LoadBalancer, aws.lb.TargetGroup, list[aws.lb.Listener]]:
        name = self._name
        certificate_arn = settings.aws.certificate_arn
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
            # Internet-facing: created after, and deleted before, the internet gateway and routes.
            opts=self._child(depends_on=routes),
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
                path=HEALTH_CHECK_PATH,
                protocol="HTTP",
                port="traffic-port",
                matcher="200",
                interval=HEALTH_CHECK_INTERVAL_SECONDS,
                timeout=HEALTH_CHECK_TIMEOUT_SECONDS,
                healthy_threshold=HEALTHY_THRESHOLD,
                unhealthy_threshold=UNHEALTHY_THRESHOLD,
            ),
            opts=self._child(),
        )
        forward = aws.lb.ListenerDefaultActionArgs(
            type="forward", target_group_arn=target_group.arn
        )
        if not certificate_arn:
            http = aws.lb.Listener(
                f"{name}-http",
                load_balancer_arn=lb.arn,
                port=HTTP_PORT,
                protocol="HTTP",
                default_actions=[forward],
                opts=self._child(),
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
            opts=self._child(),
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
            opts=self._child(),
        )
        return lb, target_group, [https, http]

    def _roles(
        self, partition: pulumi.Output[str], account_id: pulumi.Output[str]
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicyAttachment, aws.iam.Role]:
        name = self._name
        # ECS's agent uses the execution role to pull the image and write logs; nothing else.
        execution_role = aws.iam.Role(
            f"{name}-execution",
            description="echo-service: ECS pulls the image from ECR and writes logs",
            assume_role_policy=json.dumps(_ecs_tasks_trust()),
            opts=self._child(),
        )
        execution_policy = aws.iam.RolePolicyAttachment(
            f"{name}-execution",
            role=execution_role.name,
            policy_arn=pulumi.Output.concat("arn:", partition, ":iam::aws:", EXECUTION_ROLE_POLICY),
            opts=self._child(),
        )
        # The role the container's code runs as. No permissions: an echo needs none. A real
        # model that loads weights from S3 gets e.g. an s3:GetObject policy attached here.
        # aws:SourceAccount keeps other accounts' tasks from assuming it (confused deputy).
        task_role = aws.iam.Role(
            f"{name}-task",
            description="echo-service: the container's own AWS permissions (none yet)",
            assume_role_policy=account_id.apply(
                lambda account: json.dumps(_ecs_tasks_trust(source_account=account))
            ),
            opts=self._child(),
        )
        return execution_role, execution_policy, task_role

    def _task_definition(
        self,
        settings: Settings,
        image_ref: pulumi.Output[str],
        log_group: aws.cloudwatch.LogGroup,
        execution_role: aws.iam.Role,
        execution_policy: aws.iam.RolePolicyAttachment,
        task_role: aws.iam.Role,
    ) -> aws.ecs.TaskDefinition:
        container = container_definition(
            settings, image=image_ref, log_group=log_group.name, region=settings.aws.region
        )
        return aws.ecs.TaskDefinition(
            f"{self._name}-task",
            # Stable per stack: every deploy is a new revision of the same family.
            family=settings.name,
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            cpu=str(settings.cpu),
            memory=str(settings.memory),
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX",
                # Must match the image's platform: an arm64 image on X86_64 exits at once.
                cpu_architecture=CPU_ARCHITECTURES[settings.platform],
            ),
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            # No host path: on Fargate the volume lives on the task's ephemeral storage.
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name=TMP_VOLUME)],
            container_definitions=pulumi.Output.json_dumps([container]),
            # The role's ARN alone does not wait for its policy: without this, the first tasks
            # may start before the role may pull the image or write logs, and on destroy the
            # policy goes while the service's last tasks still log.
            opts=self._child(depends_on=[execution_policy]),
        )

    def _service(
        self,
        settings: Settings,
        cluster: aws.ecs.Cluster,
        task_definition: aws.ecs.TaskDefinition,
        subnet_ids: Sequence[pulumi.Input[str]],
        task_sg: aws.ec2.SecurityGroup,
        target_group: aws.lb.TargetGroup,
        after: list[pulumi.Resource],
    ) -> aws.ecs.Service:
        return aws.ecs.Service(
            f"{self._name}-service",
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
            opts=self._child(
                # ECS rejects a target group that no listener attaches to a load balancer, and
                # tasks in new public subnets need their route to ECR before they start.
                depends_on=after,
                # The autoscaler owns the running count between deploys; without this, every
                # `pulumi up` would reset it to minReplicas, under load too. Raising minReplicas
                # still raises the count: the scaling target's new minimum scales the service out.
                ignore_changes=["desiredCount"],
            ),
        )

    def _autoscaling(
        self, settings: Settings, cluster: aws.ecs.Cluster, service: aws.ecs.Service
    ) -> None:
        name = self._name
        target = aws.appautoscaling.Target(
            f"{name}-scaling",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", cluster.name, "/", service.name),
            min_capacity=settings.min_replicas,
            max_capacity=settings.max_replicas,
            opts=self._child(),
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
            opts=self._child(),
        )


def container_definition(
    settings: Settings,
    *,
    image: pulumi.Input[str],
    log_group: pulumi.Input[str],
    region: str,
) -> dict[str, object]:
    """The one container of the task, in RegisterTaskDefinition's `containerDefinitions` form.

    Args:
        settings: Validated settings (container port).
        image: The image reference by digest.
        log_group: The CloudWatch log group name.
        region: The log group's region.

    Returns:
        A dict whose values may be Outputs; serialise it with `pulumi.Output.json_dumps`.
    """
    port = settings.container_port
    probe = (
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{port}{HEALTH_CHECK_PATH}', "
        f"timeout={CONTAINER_HEALTH_TIMEOUT_SECONDS - 1})"
    )
    return {
        "name": CONTAINER_NAME,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": port, "protocol": "tcp"}],
        # The app listens on $PORT; WEB_CONCURRENCY is left to the app's own default.
        "environment": [{"name": "PORT", "value": str(port)}],
        "readonlyRootFilesystem": True,
        "mountPoints": [{"sourceVolume": TMP_VOLUME, "containerPath": TMP_PATH, "readOnly": False}],
        "stopTimeout": STOP_TIMEOUT_SECONDS,
        # ECS ignores the image's HEALTHCHECK; this one restarts a hung container even when the
        # ALB has already stopped sending it traffic.
        "healthCheck": {
            "command": ["CMD", "python", "-c", probe],
            "interval": CONTAINER_HEALTH_INTERVAL_SECONDS,
            "timeout": CONTAINER_HEALTH_TIMEOUT_SECONDS,
            "retries": CONTAINER_HEALTH_RETRIES,
            "startPeriod": CONTAINER_HEALTH_START_PERIOD_SECONDS,
        },
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": LOG_STREAM_PREFIX,
            },
        },
    }


def _ecs_tasks_trust(source_account: str | None = None) -> dict[str, object]:
    statement: dict[str, object] = {
        "Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
    if source_account:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def registry_host(repository_url: str) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com/<name>` -> the registry host to log in to."""
    return repository_url.split("/", 1)[0]


def pick_zone(names: Sequence[str], index: int) -> str:
    """The `index`-th usable availability zone, or a clear error when the region has too few."""
    if len(names) < ZONE_COUNT:
        raise pulumi.RunError(
            f"The region offers {len(names)} availability zone(s) where Fargate runs "
            f"({', '.join(names) or 'none'}); a new VPC needs {ZONE_COUNT}. Choose another "
            "aws:region, or set echo-service:vpcId and echo-service:subnetIds."
        )
    return names[index]


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
