"""The aws target's network: the VPC and public subnets (or the user's own), and security groups."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.aws.edge import HTTP_PORT, HTTPS_PORT
from infra.aws.options import child, invoke
from infra.settings import AwsSettings, Settings

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


def network(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    aws_settings: AwsSettings,
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

    # No NAT gateway: one costs about $33 a month (plus $0.045/GB) before any traffic. Tasks
    # sit in public subnets with public IPs instead, so they reach ECR and CloudWatch Logs
    # directly; their security group still admits only the load balancer, on one port.
    vpc = aws.ec2.Vpc(
        f"{name}-vpc",
        cidr_block=VPC_CIDR,
        enable_dns_support=True,
        enable_dns_hostnames=True,
        opts=child(parent, provider),
    )
    gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child(parent, provider))
    route_table = aws.ec2.RouteTable(
        f"{name}-public",
        vpc_id=vpc.id,
        routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
        opts=child(parent, provider),
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
        opts=invoke(parent, provider),
    )
    subnet_ids = []
    routes: list[pulumi.Resource] = [gateway]
    for index, cidr in enumerate(SUBNET_CIDRS):
        subnet = aws.ec2.Subnet(
            f"{name}-public-{index}",
            vpc_id=vpc.id,
            cidr_block=cidr,
            availability_zone=zones.names.apply(lambda names, i=index: pick_zone(names, i)),
            opts=child(parent, provider),
        )
        association = aws.ec2.RouteTableAssociation(
            f"{name}-public-{index}",
            subnet_id=subnet.id,
            route_table_id=route_table.id,
            opts=child(parent, provider),
        )
        subnet_ids.append(subnet.id)
        routes.append(association)
    return vpc.id, subnet_ids, routes


def security_groups(
    parent: pulumi.ComponentResource,
    name: str,
    provider: aws.Provider,
    vpc_id: pulumi.Input[str],
    settings: Settings,
) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup, list[pulumi.Resource]]:
    """The ALB's group (open on 80/443), the tasks' (open only to the ALB's group), the rules.

    Rules are separate `aws.vpc.SecurityGroup*Rule` resources, as the AWS provider
    recommends: the two groups refer to each other, which inline rules cannot express
    without a dependency cycle, and each rule gets its own description and id.
    """
    port = settings.container_port
    alb_sg = aws.ec2.SecurityGroup(
        f"{name}-alb-sg",
        vpc_id=vpc_id,
        description="echo-service load balancer: HTTP(S) from anywhere",
        opts=child(parent, provider),
    )
    task_sg = aws.ec2.SecurityGroup(
        f"{name}-task-sg",
        vpc_id=vpc_id,
        description="echo-service tasks: the container port from the load balancer only",
        opts=child(parent, provider),
    )
    rules: list[pulumi.Resource] = []
    # 443 with a certificate of the user's or one for `domain` (open before the certificate is
    # issued: nothing listens there until it is, and the HTTP listener redirects to it after).
    https = settings.aws.certificate_arn or settings.edge.domain
    public_ports = [HTTP_PORT] + ([HTTPS_PORT] if https else [])
    for public_port in public_ports:
        alb_in = aws.vpc.SecurityGroupIngressRule(
            f"{name}-alb-in-{public_port}",
            security_group_id=alb_sg.id,
            description=f"Port {public_port} from the internet",
            ip_protocol="tcp",
            from_port=public_port,
            to_port=public_port,
            cidr_ipv4="0.0.0.0/0",
            opts=child(parent, provider),
        )
        rules.append(alb_in)
    alb_out = aws.vpc.SecurityGroupEgressRule(
        f"{name}-alb-out-tasks",
        security_group_id=alb_sg.id,
        description="Requests and health checks to the tasks",
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        referenced_security_group_id=task_sg.id,
        opts=child(parent, provider),
    )
    task_in = aws.vpc.SecurityGroupIngressRule(
        f"{name}-task-in-alb",
        security_group_id=task_sg.id,
        description="The container port from the load balancer",
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        referenced_security_group_id=alb_sg.id,
        opts=child(parent, provider),
    )
    task_out = aws.vpc.SecurityGroupEgressRule(
        f"{name}-task-out-all",
        security_group_id=task_sg.id,
        # Image pulls from ECR and logs to CloudWatch go over the internet (no NAT, no VPC
        # endpoints); the user's model may call out too. (EC2 descriptions allow a-zA-Z0-9,
        # space and ._-:/()#,@[]+=&;{}!$* only: no apostrophe.)
        description="All outbound traffic (ECR, CloudWatch Logs, calls the model makes)",
        ip_protocol="-1",
        cidr_ipv4="0.0.0.0/0",
        opts=child(parent, provider),
    )
    rules += [alb_out, task_in, task_out]
    return alb_sg, task_sg, rules


def pick_zone(names: Sequence[str], index: int) -> str:
    """The `index`-th usable availability zone, or a clear error when the region has too few."""
    if len(names) < ZONE_COUNT:
        raise pulumi.RunError(
            f"The region offers {len(names)} availability zone(s) where Fargate runs "
            f"({', '.join(names) or 'none'}); a new VPC needs {ZONE_COUNT}. Choose another "
            "aws:region, or set echo-service:vpcId and echo-service:subnetIds."
        )
    return names[index]
