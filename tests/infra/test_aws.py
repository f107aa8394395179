"""The aws target under mocks, with the shipped Pulumi.dev.yaml: what `pulumi up` would create.

Inputs are asserted as the engine receives them (camelCase). Requests the provider will send to
AWS are rebuilt from those inputs and checked against the APIs' own models in botocore
(ECS RegisterTaskDefinition and CreateService, ELBv2 CreateLoadBalancer, CreateTargetGroup,
CreateListener and the attribute calls, Application Auto Scaling).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from infra import aws as target
from infra.settings import READINESS_PATH
from tests.harness import Rendered, Res, run_stack
from tests.harness import plain as ints
from tests.infra import fakes
from tests.infra.botocore_shapes import assert_valid

COMPONENT = "echo-service:aws:FargateService"
PROVIDER = "pulumi:providers:aws"
IMAGE = "docker-build:index:Image"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
IGW = "aws:ec2/internetGateway:InternetGateway"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
REPO = "aws:ecr/repository:Repository"
LIFECYCLE = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
LB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
CLUSTER = "aws:ecs/cluster:Cluster"
TASK_DEF = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f2d6c1e-1111-2222-3333-444455556666"
EXISTING = {"vpcId": "vpc-0123456789abcdef0", "subnetIds": ["subnet-0aaa", "subnet-0bbb"]}

# ECS limits the botocore model does not declare. Source: ECS API reference, HealthCheck and
# ContainerDefinition.stopTimeout (Fargate: at most 120 s).
ECS_HEALTH_LIMITS = {
    "interval": (5, 300),
    "timeout": (2, 60),
    "retries": (1, 10),
    "startPeriod": (0, 300),
}
FARGATE_MAX_STOP_TIMEOUT = 120

_rendered: dict[str, Rendered] = {}


def render(overrides: dict[str, Any] | None = None) -> Rendered:
    """Runs the dev stack with overrides; each variant once per session (runs are pure)."""
    key = json.dumps(overrides or {}, sort_keys=True)
    if key not in _rendered:
        _rendered[key] = run_stack("dev", overrides)
    return _rendered[key]


def container(r: Rendered) -> dict[str, Any]:
    definitions = json.loads(r.one(TASK_DEF).inputs["containerDefinitions"])
    assert len(definitions) == 1
    return definitions[0]


def named(r: Rendered, type_: str, name: str) -> Res:
    return next(res for res in r.of_type(type_) if res.name == name)


def subnets(r: Rendered) -> list[Res]:
    """The new subnets in program order (echo-service-public-0, -1, ...). Registration order is
    not program order: each subnet waits for its zone, and either may be sent first."""
    return sorted(r.of_type(SUBNET), key=lambda res: res.name)


def listener(r: Rendered, port: int) -> Res:
    found = [res for res in r.of_type(LISTENER) if res.inputs["port"] == port]
    assert len(found) == 1, f"expected one listener on {port}"
    return found[0]


def rules(r: Rendered, type_: str, sg: Res) -> list[dict[str, Any]]:
    return [
        ints(res.inputs)
        for res in r.of_type(type_)
        if res.inputs["securityGroupId"] == sg.outputs["id"]
    ]


def unwrap_secret(value: Any) -> tuple[Any, bool]:
    """Deserialized inputs keep secrets as {<secret sig>: ..., "value": v}."""
    rpc = pulumi.runtime.rpc
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return value["value"], True
    return value, False


# --- the component, the provider, the tags ------------------------------------------------------


def test_every_resource_is_a_child_of_one_fargate_service_component():
    r = render()
    component = r.one(COMPONENT)
    assert component.name == "echo-service"
    assert component.parent.endswith("pulumi:pulumi:Stack::echo-service-dev")
    others = [res for res in r.resources if res is not component]
    assert others and all(res.parent == component.urn for res in others)


def test_every_aws_resource_goes_through_the_explicit_provider():
    r = render()
    provider = r.one(PROVIDER)
    aws_resources = [res for res in r.resources if res.type.startswith("aws:")]
    assert len(aws_resources) > 20
    assert {res.provider for res in aws_resources} == {
        f"{provider.urn}::{provider.outputs.get('id', provider.name + '-id')}"
    }
    # The image is built by the docker-build provider, not sent to the AWS one.
    assert not r.one(IMAGE).provider.startswith(provider.urn)


def test_provider_region_and_default_tags_carry_the_labels_once():
    r = render()
    provider = r.one(PROVIDER).inputs
    assert provider["region"] == "us-east-1"
    assert json.loads(provider["defaultTags"]) == {
        "tags": {"project": "echo-service", "stack": "dev", "managed-by": "pulumi"}
    }
    # Tags come only from default_tags: no resource sets its own.
    assert not [
        res.name for res in r.resources if res.type.startswith("aws:") and "tags" in res.inputs
    ]


def test_region_comes_from_aws_region_config():
    r = render({"aws:region": "eu-west-1"})
    assert r.one(PROVIDER).inputs["region"] == "eu-west-1"
    assert container(r)["logConfiguration"]["options"]["awslogs-region"] == "eu-west-1"
    assert r.outputs["region"] == "eu-west-1"


def test_invokes_go_through_the_explicit_provider():
    r = run_stack("dev")
    provider = r.one(PROVIDER)
    assert {c.token for c in r.calls} == set(fakes.AWS_CALLS)
    assert all(c.provider.startswith(provider.urn + "::") for c in r.calls), r.calls


def test_no_physical_name_is_hard_coded_except_the_per_stack_task_family():
    r = render()
    named_inputs = {
        res.type: res.inputs["name"]
        for res in r.resources
        if res.type.startswith("aws:") and "name" in res.inputs
    }
    assert named_inputs == {}
    assert r.one(TASK_DEF).inputs["family"] == "echo-service-dev"


# --- image and registry --------------------------------------------------------------------------


def test_ecr_repository_can_be_destroyed_with_images_and_scans_pushes():
    repo = render().one(REPO).inputs
    assert repo["forceDelete"] is True
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}


def test_lifecycle_policy_keeps_the_newest_images_of_the_repository():
    r = render()
    policy = r.one(LIFECYCLE).inputs
    assert policy["repository"] == r.one(REPO).outputs["name"]
    (rule,) = json.loads(policy["policy"])["rules"]
    assert rule["selection"] == {
        "tagStatus": "any",
        "countType": "imageCountMoreThan",
        "countNumber": target.ECR_KEEP_IMAGES,
    }
    assert rule["action"] == {"type": "expire"}
    assert target.ECR_KEEP_IMAGES >= 2  # the previous image stays for a rollback


def test_image_is_built_for_the_pinned_platform_and_pushed_with_an_ecr_token():
    r = render()
    repo_url = r.one(REPO).outputs["repositoryUrl"]
    image = r.one(IMAGE).inputs
    assert image["platforms"] == ["linux/amd64"]
    assert image["push"] is True
    assert image["tags"] == [f"{repo_url}:dev"]
    registries, secret = unwrap_secret(image["registries"])
    assert secret, "the ECR password must stay a secret in the state"
    assert registries == [
        {
            "address": f"{fakes.ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com",
            "username": "AWS",
            "password": "fake-ecr-password",
        }
    ]
    token_calls = [
        c for c in r.calls if c.token == "aws:ecr/getAuthorizationToken:getAuthorizationToken"
    ]
    assert [c.args for c in token_calls] == [{"registryId": fakes.ACCOUNT}]


def test_destroy_leaves_the_image_to_the_repository_it_deletes():
    # docker-build deletes a pushed digest with the ECR token saved at the last `pulumi up`,
    # which expires after 12 hours: a later destroy would fail on the image and keep the
    # repository. The image is retained instead; force_delete removes it with the repository.
    r = run_stack("dev")
    assert r.one(IMAGE).retain_on_delete is True
    assert r.one(REPO).inputs["forceDelete"] is True
    assert r.one(REPO).urn in r.one(IMAGE).dependencies
    # Only the image: everything else is deleted for real.
    assert [x.type for x in r.resources if x.retain_on_delete] == [IMAGE]


def test_task_runs_the_image_by_digest_and_the_stack_exports_it():
    r = render()
    ref = f"{r.one(REPO).outputs['repositoryUrl']}@{fakes.FAKE_DIGEST}"
    assert container(r)["image"] == ref
    assert r.outputs["image"] == ref


def test_arm64_builds_an_arm64_image_and_runs_it_on_graviton():
    r = render({"platform": "linux/arm64"})
    assert r.one(IMAGE).inputs["platforms"] == ["linux/arm64"]
    assert r.one(TASK_DEF).inputs["runtimePlatform"] == {
        "operatingSystemFamily": "LINUX",
        "cpuArchitecture": "ARM64",
    }


def test_amd64_runs_on_x86():
    assert render().one(TASK_DEF).inputs["runtimePlatform"] == {
        "operatingSystemFamily": "LINUX",
        "cpuArchitecture": "X86_64",
    }


# --- network -------------------------------------------------------------------------------------


def test_new_vpc_has_dns_hostnames_an_internet_gateway_and_no_nat_gateway():
    r = render()
    vpc = r.one(VPC)
    assert vpc.inputs["cidrBlock"] == target.VPC_CIDR
    assert vpc.inputs["enableDnsHostnames"] is True and vpc.inputs["enableDnsSupport"] is True
    assert r.one(IGW).inputs["vpcId"] == vpc.outputs["id"]
    assert not [t for t in r.types() if "natGateway" in t or "ec2/eip" in t]


def test_new_vpc_has_public_subnets_in_the_first_two_regular_zones():
    r = render()
    vpc_id = r.one(VPC).outputs["id"]
    new_subnets = subnets(r)
    # The fake account has opted in to a Local Zone (us-east-1-bos-1a), which sorts first and
    # runs no Fargate: it must not get a subnet.
    assert [s.inputs["availabilityZone"] for s in new_subnets] == ["us-east-1a", "us-east-1b"]
    assert [s.inputs["cidrBlock"] for s in new_subnets] == list(target.SUBNET_CIDRS)
    assert all(s.inputs["vpcId"] == vpc_id for s in new_subnets)
    (zones,) = [
        c for c in r.calls if c.token == "aws:index/getAvailabilityZones:getAvailabilityZones"
    ]
    assert zones.args == {
        "state": "available",
        "excludeZoneIds": list(target.FARGATE_UNSUPPORTED_ZONE_IDS),
        "filters": [{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
    }


def test_public_route_table_sends_the_internet_through_the_gateway_for_both_subnets():
    r = render()
    table = r.one(ROUTE_TABLE)
    assert table.inputs["routes"] == [
        {"cidrBlock": "0.0.0.0/0", "gatewayId": r.one(IGW).outputs["id"]}
    ]
    associations = r.of_type(ROUTE_TABLE_ASSOCIATION)
    assert sorted(a.inputs["subnetId"] for a in associations) == sorted(
        s.outputs["id"] for s in r.of_type(SUBNET)
    )
    assert all(a.inputs["routeTableId"] == table.outputs["id"] for a in associations)


def test_what_needs_the_internet_gateway_waits_for_it_and_goes_first_on_destroy():
    # CreateLoadBalancer refuses an internet-facing ALB while the VPC has no gateway attached,
    # and a gateway cannot be detached while the ALB's or the tasks' public addresses exist.
    # The engine deletes dependents first, so these dependencies order `pulumi destroy` too.
    r = render()
    routes = {r.one(IGW).urn} | {a.urn for a in r.of_type(ROUTE_TABLE_ASSOCIATION)}
    assert len(routes) == 1 + len(target.SUBNET_CIDRS)
    assert routes <= set(r.one(LB).dependencies)
    assert routes <= set(r.one(SERVICE).dependencies)


def test_zone_shortage_is_a_clear_error():
    assert target.pick_zone(["us-east-1a", "us-east-1b"], 1) == "us-east-1b"
    with pytest.raises(pulumi.RunError, match=r"offers 1 availability zone.*echo-service:vpcId"):
        target.pick_zone(["us-west-1a"], 0)


def test_existing_vpc_creates_no_network_and_uses_the_given_subnets():
    r = render(EXISTING)
    assert not r.types() & {VPC, SUBNET, IGW, ROUTE_TABLE, ROUTE_TABLE_ASSOCIATION}
    assert not [
        c for c in r.calls if c.token == "aws:index/getAvailabilityZones:getAvailabilityZones"
    ]
    assert {sg.inputs["vpcId"] for sg in r.of_type(SG)} == {EXISTING["vpcId"]}
    assert r.one(TG).inputs["vpcId"] == EXISTING["vpcId"]
    assert r.one(LB).inputs["subnets"] == EXISTING["subnetIds"]
    assert r.one(SERVICE).inputs["networkConfiguration"]["subnets"] == EXISTING["subnetIds"]


def test_new_subnets_carry_the_load_balancer_and_the_tasks():
    r = render()
    subnet_ids = [s.outputs["id"] for s in subnets(r)]
    assert r.one(LB).inputs["subnets"] == subnet_ids
    assert r.one(SERVICE).inputs["networkConfiguration"]["subnets"] == subnet_ids


# --- security groups -----------------------------------------------------------------------------


def security_groups(r: Rendered) -> tuple[Res, Res]:
    return named(r, SG, "echo-service-alb-sg"), named(r, SG, "echo-service-task-sg")


def test_security_groups_have_no_inline_rules():
    for sg in render().of_type(SG):
        assert "ingress" not in sg.inputs and "egress" not in sg.inputs


def test_load_balancer_admits_http_from_anywhere_and_talks_only_to_the_tasks():
    r = render()
    alb_sg, task_sg = security_groups(r)
    ingress = rules(r, INGRESS, alb_sg)
    assert [(i["ipProtocol"], i["fromPort"], i["toPort"], i["cidrIpv4"]) for i in ingress] == [
        ("tcp", 80, 80, "0.0.0.0/0")
    ]
    (egress,) = rules(r, EGRESS, alb_sg)
    assert (egress["ipProtocol"], egress["fromPort"], egress["toPort"]) == ("tcp", 8080, 8080)
    assert egress["referencedSecurityGroupId"] == task_sg.outputs["id"] and "cidrIpv4" not in egress


def test_tasks_admit_only_the_load_balancer_on_the_container_port():
    r = render()
    alb_sg, task_sg = security_groups(r)
    (ingress,) = rules(r, INGRESS, task_sg)
    assert (ingress["ipProtocol"], ingress["fromPort"], ingress["toPort"]) == ("tcp", 8080, 8080)
    assert (
        ingress["referencedSecurityGroupId"] == alb_sg.outputs["id"] and "cidrIpv4" not in ingress
    )
    (egress,) = rules(r, EGRESS, task_sg)
    assert egress["ipProtocol"] == "-1" and egress["cidrIpv4"] == "0.0.0.0/0"
    assert "fromPort" not in egress and "toPort" not in egress
    assert r.one(SERVICE).inputs["networkConfiguration"]["securityGroups"] == [
        task_sg.outputs["id"]
    ]
    assert r.one(LB).inputs["securityGroups"] == [alb_sg.outputs["id"]]


def test_container_port_setting_reaches_every_place_that_needs_it():
    r = render({"containerPort": 9000})
    alb_sg, task_sg = security_groups(r)
    assert [i["fromPort"] for i in rules(r, INGRESS, task_sg)] == [9000]
    assert [e["toPort"] for e in rules(r, EGRESS, alb_sg)] == [9000]
    assert r.one(TG).inputs["port"] == 9000
    c = container(r)
    assert c["portMappings"] == [{"containerPort": 9000, "protocol": "tcp"}]
    assert {"name": "PORT", "value": "9000"} in c["environment"]
    assert "http://127.0.0.1:9000/readyz" in c["healthCheck"]["command"][-1]
    assert ints(r.one(SERVICE).inputs["loadBalancers"])[0]["containerPort"] == 9000


# --- load balancer, target group, listeners -------------------------------------------------------


def test_load_balancer_is_an_internet_facing_alb_without_deletion_protection_by_default():
    lb = render().one(LB).inputs
    assert lb["loadBalancerType"] == "application"
    assert lb["internal"] is False
    assert lb["enableDeletionProtection"] is False
    assert lb["dropInvalidHeaderFields"] is True


def test_deletion_protection_setting_protects_the_load_balancer():
    assert render({"deletionProtection": True}).one(LB).inputs["enableDeletionProtection"] is True


def test_target_group_registers_task_ips_and_checks_readiness_quickly():
    tg = ints(render().one(TG).inputs)
    assert (tg["targetType"], tg["protocol"], tg["port"]) == ("ip", "HTTP", 8080)
    check = tg["healthCheck"]
    assert check["path"] == READINESS_PATH == "/readyz"
    assert (
        check["enabled"] is True and check["matcher"] == "200" and check["port"] == "traffic-port"
    )
    assert check["interval"] <= 10 and check["healthyThreshold"] == 2
    assert check["timeout"] < check["interval"]
    assert tg["deregistrationDelay"] <= 30


def test_http_listener_forwards_to_the_target_group_without_a_certificate():
    r = render()
    (only,) = r.of_type(LISTENER)
    assert ints(only.inputs)["port"] == 80 and only.inputs["protocol"] == "HTTP"
    assert only.inputs["loadBalancerArn"] == r.one(LB).outputs["arn"]
    assert only.inputs["defaultActions"] == [
        {"type": "forward", "targetGroupArn": r.one(TG).outputs["arn"]}
    ]
    assert r.outputs["url"] == f"http://{r.one(LB).outputs['dnsName']}"


def test_certificate_adds_https_on_443_and_redirects_http_to_it():
    r = render({"certificateArn": CERT})
    https = listener(r, 443).inputs
    assert https["protocol"] == "HTTPS" and https["certificateArn"] == CERT
    assert https["sslPolicy"] == target.TLS_POLICY
    assert https["defaultActions"] == [
        {"type": "forward", "targetGroupArn": r.one(TG).outputs["arn"]}
    ]
    http = listener(r, 80).inputs
    assert http["protocol"] == "HTTP"
    assert http["defaultActions"] == [
        {
            "type": "redirect",
            "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
        }
    ]
    alb_sg, _ = security_groups(r)
    assert sorted(i["fromPort"] for i in rules(r, INGRESS, alb_sg)) == [80, 443]
    assert r.outputs["url"] == f"https://{r.one(LB).outputs['dnsName']}"
    listener_urns = {res.urn for res in r.of_type(LISTENER)}
    assert listener_urns <= set(r.one(SERVICE).dependencies)


# --- logs, cluster, roles ------------------------------------------------------------------------


def test_cluster_container_insights_follow_the_setting():
    assert render().one(CLUSTER).inputs["settings"] == [
        {"name": "containerInsights", "value": "disabled"}
    ]
    assert render({"containerInsights": True}).one(CLUSTER).inputs["settings"] == [
        {"name": "containerInsights", "value": "enabled"}
    ]


def test_log_group_keeps_logs_for_the_configured_days_and_receives_the_container_logs():
    r = render()
    assert ints(r.one(LOG_GROUP).inputs)["retentionInDays"] == 14
    assert container(r)["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": r.one(LOG_GROUP).outputs["name"],
            "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "app",
        },
    }
    assert ints(render({"logRetentionDays": 30}).one(LOG_GROUP).inputs)["retentionInDays"] == 30


def trust(role: Res) -> dict[str, Any]:
    return json.loads(role.inputs["assumeRolePolicy"])


def test_execution_role_has_only_the_ecs_task_execution_managed_policy():
    r = render()
    execution = named(r, ROLE, "echo-service-execution")
    (statement,) = trust(execution)["Statement"]
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole" and statement["Effect"] == "Allow"
    (attachment,) = r.of_type(ATTACHMENT)
    assert attachment.inputs == {
        "role": execution.outputs["name"],
        "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
    }
    assert not r.types() & {"aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"}
    for role in r.of_type(ROLE):
        assert not role.inputs.keys() & {"inlinePolicies", "managedPolicyArns"}


def test_task_definition_waits_for_the_execution_roles_policy():
    # The role's ARN is known before its policy is attached; tasks started in between cannot
    # pull the image. On destroy the dependency keeps the policy until the tasks are gone.
    r = render()
    (attachment,) = r.of_type(ATTACHMENT)
    assert attachment.urn in r.one(TASK_DEF).dependencies


def test_task_role_has_no_permissions_and_trusts_only_this_accounts_tasks():
    r = render()
    task_role = named(r, ROLE, "echo-service-task")
    (statement,) = trust(task_role)["Statement"]
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": fakes.ACCOUNT}}
    assert all(a.inputs["role"] != task_role.outputs["name"] for a in r.of_type(ATTACHMENT))
    task_def = r.one(TASK_DEF).inputs
    assert task_def["taskRoleArn"] == task_role.outputs["arn"]
    assert task_def["executionRoleArn"] == named(r, ROLE, "echo-service-execution").outputs["arn"]


# --- task definition -----------------------------------------------------------------------------


def test_task_definition_is_a_fargate_awsvpc_task_of_the_configured_size():
    task_def = render().one(TASK_DEF).inputs
    assert task_def["networkMode"] == "awsvpc"
    assert task_def["requiresCompatibilities"] == ["FARGATE"]
    assert (task_def["cpu"], task_def["memory"]) == ("256", "512")
    bigger = render({"cpu": 1024, "memory": 4096}).one(TASK_DEF).inputs
    assert (bigger["cpu"], bigger["memory"]) == ("1024", "4096")


def test_container_has_a_read_only_root_with_a_writable_tmp_on_task_storage():
    r = render()
    c = container(r)
    assert c["readonlyRootFilesystem"] is True
    assert c["mountPoints"] == [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}]
    # No host path: Fargate backs the volume with the task's ephemeral storage.
    assert r.one(TASK_DEF).inputs["volumes"] == [{"name": "tmp"}]


def test_container_is_essential_serves_port_and_stops_gracefully():
    c = container(render())
    assert c["name"] == target.CONTAINER_NAME and c["essential"] is True
    assert c["portMappings"] == [{"containerPort": 8080, "protocol": "tcp"}]
    assert {"name": "PORT", "value": "8080"} in c["environment"]
    assert 0 < c["stopTimeout"] <= FARGATE_MAX_STOP_TIMEOUT


def test_container_health_check_gets_readiness_with_python_within_ecs_limits():
    check = container(render())["healthCheck"]
    assert check["command"][:3] == ["CMD", "python", "-c"]
    assert "urllib.request.urlopen('http://127.0.0.1:8080/readyz'" in check["command"][3]
    compile(check["command"][3], "<healthCheck>", "exec")  # the probe is valid Python
    for key, (low, high) in ECS_HEALTH_LIMITS.items():
        assert low <= check[key] <= high, key
    assert check["timeout"] < check["interval"]


def register_task_definition_request(r: Rendered) -> dict[str, Any]:
    """The RegisterTaskDefinition request the provider sends for the task definition."""
    inputs = ints(r.one(TASK_DEF).inputs)
    same_name = (
        "family",
        "taskRoleArn",
        "executionRoleArn",
        "networkMode",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "runtimePlatform",
    )
    request = {key: inputs.pop(key) for key in same_name}
    request["containerDefinitions"] = json.loads(inputs.pop("containerDefinitions"))
    request["volumes"] = [{"name": v.pop("name")} for v in inputs.pop("volumes")]
    assert inputs == {}, f"inputs this translation does not map yet: {inputs}"
    return request


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"platform": "linux/arm64", "cpu": 512, "memory": 2048},
        {"certificateArn": CERT, **EXISTING},
    ],
    ids=["defaults", "arm64", "certificate-existing-vpc"],
)
def test_task_definition_is_a_valid_ecs_register_task_definition_request(overrides):
    request = register_task_definition_request(render(overrides))
    assert_valid("ecs", "RegisterTaskDefinition", request)


# --- service and autoscaling ---------------------------------------------------------------------


def test_service_runs_min_replicas_fargate_tasks_behind_the_target_group():
    r = render()
    service = ints(r.one(SERVICE).inputs)
    assert service["launchType"] == "FARGATE"
    assert service["desiredCount"] == 2
    assert service["cluster"] == r.one(CLUSTER).outputs["arn"]
    assert service["taskDefinition"] == r.one(TASK_DEF).outputs["arn"]
    assert service["networkConfiguration"]["assignPublicIp"] is True
    assert service["loadBalancers"] == [
        {"targetGroupArn": r.one(TG).outputs["arn"], "containerName": "app", "containerPort": 8080}
    ]
    assert (
        ints(render({"minReplicas": 3, "maxReplicas": 5}).one(SERVICE).inputs)["desiredCount"] == 3
    )


def test_service_deploys_safely_and_waits_until_healthy():
    service = ints(render().one(SERVICE).inputs)
    assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["waitForSteadyState"] is True
    assert service["healthCheckGracePeriodSeconds"] > 0
    assert (service["deploymentMinimumHealthyPercent"], service["deploymentMaximumPercent"]) == (
        100,
        200,
    )
    assert service["availabilityZoneRebalancing"] == "ENABLED"
    assert service["propagateTags"] == "SERVICE"


def test_service_is_created_after_the_listener_and_leaves_the_count_to_the_autoscaler():
    r = render()
    service = r.one(SERVICE)
    assert r.one(LISTENER).urn in service.dependencies
    assert service.ignore_changes == ["desiredCount"]


def create_service_request(r: Rendered) -> dict[str, Any]:
    """The CreateService request the provider sends (waitForSteadyState is the provider's own)."""
    inputs = ints(r.one(SERVICE).inputs)
    del inputs["waitForSteadyState"]
    network = inputs.pop("networkConfiguration")
    request = {
        "serviceName": r.one(SERVICE).outputs["name"],
        "deploymentConfiguration": {
            "deploymentCircuitBreaker": inputs.pop("deploymentCircuitBreaker"),
            "minimumHealthyPercent": inputs.pop("deploymentMinimumHealthyPercent"),
            "maximumPercent": inputs.pop("deploymentMaximumPercent"),
        },
        "networkConfiguration": {
            "awsvpcConfiguration": {
                "subnets": network.pop("subnets"),
                "securityGroups": network.pop("securityGroups"),
                "assignPublicIp": "ENABLED" if network.pop("assignPublicIp") else "DISABLED",
            }
        },
        "enableECSManagedTags": inputs.pop("enableEcsManagedTags"),
    }
    assert network == {}
    if "alarms" in inputs:
        request["deploymentConfiguration"]["alarms"] = inputs.pop("alarms")
    if "deploymentConfiguration" in inputs:
        # rollout canary or linear: the provider sends the bake times (strings in its schema,
        # "nullable ints") as integers (expandBakeTimeInMinutes, expand*Configuration).
        request["deploymentConfiguration"].update(
            _bake_times_as_ints(inputs.pop("deploymentConfiguration"))
        )
    same_name = (
        "cluster",
        "taskDefinition",
        "desiredCount",
        "launchType",
        "loadBalancers",
        "healthCheckGracePeriodSeconds",
        "propagateTags",
        "availabilityZoneRebalancing",
    )
    request.update({key: inputs.pop(key) for key in same_name})
    assert inputs == {}, f"inputs this translation does not map yet: {inputs}"
    return request


def _bake_times_as_ints(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: int(v) if k.lower().endswith("baketimeinminutes") else _bake_times_as_ints(v)
            for k, v in value.items()
        }
    return value


def test_service_is_a_valid_ecs_create_service_request():
    r = render()
    request = create_service_request(r)
    assert_valid("ecs", "CreateService", request)
    # The load balancer block names the task's container and port.
    (lb,) = request["loadBalancers"]
    c = container(r)
    assert lb["containerName"] == c["name"]
    assert lb["containerPort"] in [p["containerPort"] for p in c["portMappings"]]


def test_autoscaling_tracks_cpu_between_min_and_max_replicas():
    r = render({"minReplicas": 3, "maxReplicas": 6, "targetCpuPercent": 70})
    scaling = ints(r.one(SCALING_TARGET).inputs)
    assert scaling == {
        "serviceNamespace": "ecs",
        "scalableDimension": "ecs:service:DesiredCount",
        "resourceId": f"service/{r.one(CLUSTER).outputs['name']}/{r.one(SERVICE).outputs['name']}",
        "minCapacity": 3,
        "maxCapacity": 6,
    }
    policy = ints(r.one(SCALING_POLICY).inputs)
    assert policy["policyType"] == "TargetTrackingScaling"
    assert (policy["resourceId"], policy["scalableDimension"], policy["serviceNamespace"]) == (
        scaling["resourceId"], "ecs:service:DesiredCount", "ecs")  # fmt: skip
    tracking = policy["targetTrackingScalingPolicyConfiguration"]
    assert tracking["targetValue"] == 70
    assert tracking["predefinedMetricSpecification"] == {
        "predefinedMetricType": "ECSServiceAverageCPUUtilization"
    }
    assert tracking["scaleOutCooldown"] < tracking["scaleInCooldown"]


def test_autoscaling_requests_are_valid_application_autoscaling_requests():
    r = render()
    scaling = ints(r.one(SCALING_TARGET).inputs)
    assert_valid("application-autoscaling", "RegisterScalableTarget", {
        "ServiceNamespace": scaling.pop("serviceNamespace"),
        "ResourceId": scaling.pop("resourceId"),
        "ScalableDimension": scaling.pop("scalableDimension"),
        "MinCapacity": scaling.pop("minCapacity"),
        "MaxCapacity": scaling.pop("maxCapacity"),
    })  # fmt: skip
    assert scaling == {}
    policy = ints(r.one(SCALING_POLICY).inputs)
    tracking = policy.pop("targetTrackingScalingPolicyConfiguration")
    assert_valid("application-autoscaling", "PutScalingPolicy", {
        "PolicyName": r.one(SCALING_POLICY).name,
        "ServiceNamespace": policy.pop("serviceNamespace"),
        "ResourceId": policy.pop("resourceId"),
        "ScalableDimension": policy.pop("scalableDimension"),
        "PolicyType": policy.pop("policyType"),
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(tracking.pop("targetValue")),
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": tracking.pop("predefinedMetricSpecification")["predefinedMetricType"]
            },
            "ScaleOutCooldown": tracking.pop("scaleOutCooldown"),
            "ScaleInCooldown": tracking.pop("scaleInCooldown"),
        },
    })  # fmt: skip
    assert policy == {} and tracking == {}


# --- ELBv2 requests ------------------------------------------------------------------------------


def elbv2_requests(r: Rendered) -> list[tuple[str, dict[str, Any]]]:
    """The ELBv2 requests the provider sends, rebuilt from the recorded inputs."""
    lb_res, tg_res = r.one(LB), r.one(TG)
    lb = ints(lb_res.inputs)
    requests = [
        ("CreateLoadBalancer", {
            "Name": lb_res.outputs["name"],
            "Type": lb.pop("loadBalancerType"),
            "Scheme": "internal" if lb.pop("internal") else "internet-facing",
            "IpAddressType": lb.pop("ipAddressType"),
            "Subnets": lb.pop("subnets"),
            "SecurityGroups": lb.pop("securityGroups"),
        }),
        ("ModifyLoadBalancerAttributes", {
            "LoadBalancerArn": lb_res.outputs["arn"],
            "Attributes": [
                {"Key": "deletion_protection.enabled", "Value": str(lb.pop("enableDeletionProtection")).lower()},
                {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": str(lb.pop("dropInvalidHeaderFields")).lower()},
                {"Key": "idle_timeout.timeout_seconds", "Value": str(lb.pop("idleTimeout"))},
            ],
        }),
    ]  # fmt: skip
    assert lb == {}, f"load balancer inputs this translation does not map yet: {lb}"

    tg = ints(tg_res.inputs)
    check = tg.pop("healthCheck")
    requests += [
        ("CreateTargetGroup", {
            "Name": tg_res.outputs["name"],
            "TargetType": tg.pop("targetType"),
            "Protocol": tg.pop("protocol"),
            "Port": tg.pop("port"),
            "VpcId": tg.pop("vpcId"),
            "HealthCheckEnabled": check.pop("enabled"),
            "HealthCheckPath": check.pop("path"),
            "HealthCheckProtocol": check.pop("protocol"),
            "HealthCheckPort": check.pop("port"),
            "Matcher": {"HttpCode": check.pop("matcher")},
            "HealthCheckIntervalSeconds": check.pop("interval"),
            "HealthCheckTimeoutSeconds": check.pop("timeout"),
            "HealthyThresholdCount": check.pop("healthyThreshold"),
            "UnhealthyThresholdCount": check.pop("unhealthyThreshold"),
        }),
        ("ModifyTargetGroupAttributes", {
            "TargetGroupArn": tg_res.outputs["arn"],
            "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": str(tg.pop("deregistrationDelay"))}],
        }),
    ]  # fmt: skip
    assert tg == {} and check == {}, f"target group inputs not mapped yet: {tg} {check}"

    for res in r.of_type(LISTENER):
        inputs = ints(res.inputs)
        request = {
            "LoadBalancerArn": inputs.pop("loadBalancerArn"),
            "Protocol": inputs.pop("protocol"),
            "Port": inputs.pop("port"),
            "DefaultActions": [action_request(a) for a in inputs.pop("defaultActions")],
        }
        if "certificateArn" in inputs:
            request["Certificates"] = [{"CertificateArn": inputs.pop("certificateArn")}]
            request["SslPolicy"] = inputs.pop("sslPolicy")
        assert inputs == {}, f"listener inputs this translation does not map yet: {inputs}"
        requests.append(("CreateListener", request))
    return requests


def action_request(action: dict[str, Any]) -> dict[str, Any]:
    action = dict(action)
    request: dict[str, Any] = {"Type": action.pop("type")}
    if "targetGroupArn" in action:
        request["TargetGroupArn"] = action.pop("targetGroupArn")
    if "redirect" in action:
        redirect = action.pop("redirect")
        names = {
            "protocol": "Protocol",
            "port": "Port",
            "statusCode": "StatusCode",
            "host": "Host",
            "path": "Path",
            "query": "Query",
        }
        request["RedirectConfig"] = {names[k]: v for k, v in redirect.items()}
    assert action == {}, f"action fields this translation does not map yet: {action}"
    return request


@pytest.mark.parametrize(
    "overrides", [{}, {"certificateArn": CERT, "deletionProtection": True}], ids=["http", "https"]
)
def test_load_balancer_target_group_and_listeners_are_valid_elbv2_requests(overrides):
    requests = elbv2_requests(render(overrides))
    assert [op for op, _ in requests].count("CreateListener") == (2 if overrides else 1)
    for operation, request in requests:
        assert_valid("elbv2", operation, request)


# --- exports and rollout check -------------------------------------------------------------------


def test_stack_exports_what_a_user_needs_next():
    r = render()
    assert r.outputs == {
        "url": f"http://{r.one(LB).outputs['dnsName']}",
        "image": f"{r.one(REPO).outputs['repositoryUrl']}@{fakes.FAKE_DIGEST}",
        "cluster": r.one(CLUSTER).outputs["name"],
        "service": r.one(SERVICE).outputs["name"],
        "logGroup": r.one(LOG_GROUP).outputs["name"],
        "loadBalancer": r.one(LB).outputs["dnsName"],
        "region": "us-east-1",
    }
    assert r.secret_outputs == set()


def test_deployed_or_fail_passes_the_name_through_when_the_wanted_revision_runs():
    arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/echo-service-dev:7"
    assert target.deployed_or_fail("svc", arn, arn) == "svc"
    with pytest.raises(pulumi.RunError, match="logs tail"):
        target.deployed_or_fail("svc", arn[:-1] + "6", arn)


def test_preview_renders_without_cloud_values():
    r = run_stack("dev", preview=True)
    assert r.one(COMPONENT) and r.one(SERVICE)
