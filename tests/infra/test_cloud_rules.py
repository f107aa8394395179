"""Every value every stack sends meets the cloud's own rules (tests/infra/cloud_rules.py).

Each shipped stack, and the aws, gcp (Autopilot and Standard) and local stacks with every optional
key on, is rendered under mocks; every registered resource's inputs are walked and checked
against every row of the rules table that matches. A value no row reaches fails the test, and so
does a resource type with no row: a new resource or input is covered by adding rows.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Rendered, Res, run_stack
from tests.infra import cloud_rules
from tests.infra.cloud_rules import RULES, check_resource

SHA = "ab" * 32
KEY = "alpha-key-0123456789abcdef"
EVERY_EDGE_AND_MODEL_KEY: dict[str, Any] = {
    "domain": "model.example.com", "apiKeys": KEY, "rateLimitPerMinute": 100,
    "monitoring": True, "alertEmail": "ops@example.com", "modelSha256": SHA, "workers": 2,
    "timeoutSeconds": 120, "maxQueue": 64, "env": ["LOG_LEVEL=debug"], "startupSeconds": 90,
    "logFormat": "json", "deletionProtection": True,
}  # fmt: skip
AWS_ALL = {
    **EVERY_EDGE_AND_MODEL_KEY, "managedRules": True, "requestsPerReplica": 600,
    "containerInsights": True, "modelUri": "s3://my-models/churn/v3.joblib",
    "modelStorageGiB": 30,
}  # fmt: skip
AWS_EXISTING_VPC = {
    "vpcId": "vpc-0123456789abcdef0",
    "subnetIds": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
    "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234",
    "modelUri": "s3://my-models/churn/v3/", "platform": "linux/arm64", "cpu": 512,
    "memory": 2048,
}  # fmt: skip
GCP_PROJECT = {"gcp:project": "my-project"}
GCP_ALL = {
    **GCP_PROJECT, **EVERY_EDGE_AND_MODEL_KEY, "dnsZone": "example-com",
    "modelUri": "gs://my-models/churn/v3.joblib", "modelStorageGiB": 5,
    "network": "projects/host-project/global/networks/shared",
    "subnetwork": "projects/host-project/regions/us-central1/subnetworks/gke",
}  # fmt: skip
LOCAL_ALL = {"monitoring": True, "apiKeys": KEY, "modelUri": "app/Dockerfile",
             "logFormat": "json", "env": ["LOG_LEVEL=debug"]}  # fmt: skip

# (stack file, overrides, stack name): the shipped stacks, then every optional key on. Those run
# as a stack named with upper case, a dot and an underscore (Pulumi allows them in stack names):
# every name and label derived from it must still be one the clouds take.
ODD_NAME = "Team.Prod_1"
CASES: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "dev": ("dev", {}, None),
    "gcp": ("gcp", GCP_PROJECT, None),
    "local": ("local", {}, None),
    "aws-all": ("dev", AWS_ALL, ODD_NAME),
    "aws-existing-vpc": ("dev", AWS_EXISTING_VPC, None),
    # Issue 19: ECS's canary and linear deployments (their rule, role and second target group).
    "aws-canary": ("dev", {**AWS_ALL, "rollout": "canary", "requestsPerReplica": 0}, ODD_NAME),
    "aws-linear": ("dev", {**AWS_EXISTING_VPC, "monitoring": True, "rollout": "linear"}, None),
    "gcp-autopilot-all": ("gcp", {**GCP_ALL, "gkeMode": "autopilot"}, ODD_NAME),
    "gcp-standard-all": ("gcp", {**GCP_ALL, "gkeMode": "standard"}, ODD_NAME),
    "local-all": ("local", LOCAL_ALL, ODD_NAME),
}


def render(case: str) -> Rendered:
    stack, overrides, name = CASES[case]
    return run_stack(stack, overrides, stack_name=name)


def is_component(res: Res) -> bool:
    return res.type.startswith(cloud_rules.COMPONENT_PREFIX)


@pytest.mark.parametrize("case", list(CASES))
def test_every_value_sent_meets_the_clouds_rules(case: str):
    r = render(case)
    problems: list[str] = []
    uncovered: list[str] = []
    no_rows: set[str] = set()
    for res in r.resources:
        if is_component(res):
            assert res.inputs == {}, f"a component sends nothing: {res.type} {res.inputs}"
            continue
        finding = check_resource(res)
        problems += finding.problems
        uncovered += [f"{res.type} {res.name}: {path}" for path in finding.uncovered]
        if finding.rows == 0:
            no_rows.add(res.type)
    assert not no_rows, f"resource types with no row in tests/infra/cloud_rules.py: {no_rows}"
    assert not uncovered, "values no row of tests/infra/cloud_rules.py reaches:\n" + "\n".join(
        uncovered
    )
    assert not problems, "the clouds would refuse:\n" + "\n".join(problems)


# --- The table itself --------------------------------------------------------------------------


def test_every_row_names_its_source_and_an_unchecked_row_says_why():
    assert all(rule.source.strip() for rule in RULES)
    unchecked = [rule for rule in RULES if rule.check is None]
    assert unchecked and all(len(rule.source) > 15 for rule in unchecked)


def res(type_: str, inputs: dict[str, Any], name: str = "r") -> Res:
    """A registered resource; a Kubernetes object gets its apiVersion and kind, as the SDK sends."""
    if type_.startswith("kubernetes:"):
        _, group_version, kind = type_.split(":")
        inputs = {"apiVersion": group_version.removeprefix("core/"), "kind": kind, **inputs}
    return Res(type=type_, name=name, urn=f"urn:{name}", inputs=inputs, outputs={})


@pytest.mark.parametrize(
    ("type_", "inputs", "expected"),
    [
        # Items 1 and 2 of issue 17: an apostrophe in an EC2 rule's or a WAF web ACL's
        # description.
        ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
         {"description": "the model's own calls", "ipProtocol": "-1"}, "a-zA-Z0-9, space"),
        ("aws:wafv2/webAcl:WebAcl", {"description": "the endpoint's ACL"}, "EntityDescription"),
        ("aws:ec2/securityGroup:SecurityGroup", {"description": "é"}, "a-zA-Z0-9, space"),
        ("aws:lb/targetGroup:TargetGroup", {"name": "-tg"}, "32 characters"),
        ("aws:lb/loadBalancer:LoadBalancer", {"name": "a" * 33}, "32 characters"),
        ("aws:acm/certificate:Certificate", {"domainName": "a" * 60 + ".example.com"}, "64 octets"),
        ("aws:iam/role:Role", {"name": "my role"}, "pattern"),
        ("aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 15}, "retentionInDays"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", {"treatMissingData": "ignored"}, "is not one of"),
        ("aws:lb/targetGroup:TargetGroup", {"healthCheck": {"interval": 1}}, "minimum 5"),
        ("pulumi:providers:aws", {"defaultTags": {"tags": {"aws:x": "y"}}}, "no aws: prefix"),
        # Issue 19: ECS's rollout limits, and the production rule's weights.
        ("aws:ecs/service:Service", {"deploymentConfiguration": {"bakeTimeInMinutes": "1441"}},
         "outside 0-1440"),
        ("aws:ecs/service:Service",
         {"deploymentConfiguration": {"linearConfiguration": {"stepPercent": 2}}}, "outside 3-100"),
        ("aws:lb/listenerRule:ListenerRule",
         {"actions": [{"type": "forward", "forward": {"targetGroups": [{"weight": 1000}]}}]},
         "outside 0-999"),
        # Item 14: Cloud Monitoring user labels.
        ("gcp:monitoring/alertPolicy:AlertPolicy", {"userLabels": {"stack": "Team.Prod_1"}},
         "user_labels"),
        ("pulumi:providers:gcp", {"defaultLabels": '{"Stack": "x"}'}, "Labels"),
        ("gcp:compute/globalAddress:GlobalAddress", {"name": "1-address"}, "RFC 1035"),
        ("gcp:container/cluster:Cluster", {"name": "a" * 41}, "at most 40"),
        ("kubernetes:core/v1:Service", {"metadata": {"name": "svc.x"}}, ": Service"),
        ("kubernetes:core/v1:Namespace", {"metadata": {"labels": {"a": "b" * 64}}}, "label keys"),
        # The ManagedCertificate CRD's top-level domain starts with a letter.
        ("kubernetes:apps/v1:Deployment", {"metadata": {}, "spec": {"replicas": "two"}},
         "OpenAPI schema"),
        ("kubernetes:networking.gke.io/v1:ManagedCertificate",
         {"metadata": {"name": "c"}, "spec": {"domains": ["model.example.1com"]}},
         "ManagedCertificate CRD"),
    ],
)  # fmt: skip
def test_the_table_refuses_what_the_clouds_refuse(type_: str, inputs: dict, expected: str):
    finding = check_resource(res(type_, inputs))
    assert any(expected in problem for problem in finding.problems), finding.problems


def test_a_value_without_a_row_is_reported():
    finding = check_resource(res("aws:lb/targetGroup:TargetGroup", {"slowStart": 30}))
    assert finding.uncovered == ["slowStart"]
    assert check_resource(res("aws:new/thing:Thing", {"x": "y"})).rows == 0


def test_auto_names_are_checked_as_the_provider_makes_them():
    long_name = "echo-service-a-rather-long-tg"
    finding = check_resource(res("aws:lb/targetGroup:TargetGroup", {}, name=long_name))
    assert any("32 characters" in p for p in finding.problems), finding.problems
