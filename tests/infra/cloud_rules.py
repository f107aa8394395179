"""What the clouds check: one table of rules for every string and number the program sends.

Pulumi's mocks accept any value; the clouds do not. Each row of `RULES` names a resource type
(a Pulumi type token, `*` as a wildcard), an input path in the rendered inputs (camelCase, as sent
to the engine: `description`, `rules[].name`, `metadata.labels`, `**` for any depth) and the
check the cloud applies to the value there, with its source: the member of the AWS request the
input becomes (botocore's `pattern`, `min`, `max` and `enum` for it), a rule AWS, Google Cloud or
Kubernetes documents outside any model (EC2 descriptions' character set, ELB names, ACM's first
name, GCP resource names and labels, Kubernetes object names and labels), or a CRD's schema.

A row whose check is `None` says, in its source, why the value is not checked here (a provider
setting that reaches no API, a document checked by its own test). tests/infra/test_cloud_rules.py
renders every shipped stack and stacks with every optional key on, and requires every rendered
value to be reached by a row: a new resource type or input is covered by adding rows here.

Names the provider makes (Pulumi's auto-names: the logical name, a hyphen and a random suffix)
are checked too: `AUTO_NAMED` says which input each type's provider fills, and `physical_inputs`
adds it as the cloud will see it.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import regex
from pulumi.runtime import rpc

from tests.harness import Res, plain
from tests.infra.botocore_shapes import conform, member_shape, problems

Check = Callable[[Any], list[str]]


@dataclass(frozen=True)
class Rule:
    """One rule a cloud applies to one rendered input.

    Attributes:
        types: The Pulumi type token(s) it applies to (`fnmatch` pattern).
        path: The input path (`a.b`, `list[]` for every item, `*` one key, `**` any depth).
        check: The value -> what the cloud would refuse (empty: accepted); None: not checked.
        source: Where the rule comes from (or, with no check, why there is none).
    """

    types: str
    path: str
    check: Check | None
    source: str


# --- Checks -------------------------------------------------------------------------------------


def api(
    service: str,
    operation: str,
    member: str = "",
    *,
    convert: Callable[[Any], Any] | None = None,
    renames: Mapping[str, str] | None = None,
) -> Check:
    """The value is `member` of the `operation` request: botocore's pattern/min/max/enum for it.

    `convert` turns the provider's form into the API's (a bool into an enum, a map into a list of
    Name/Value pairs); nested keys are then matched to the model's members without regard to case,
    `renames` naming those that differ otherwise. Required members are not asked for (a row
    checks a part of a request). The member is looked up now, so a wrong one fails at import.
    """
    shape = member_shape(service, operation, member)
    where = f"{service}:{operation} {member or '(request)'}"

    def check(value: Any) -> list[str]:
        sent = conform(shape, convert(value) if convert else value, renames)
        return problems(shape, sent, where, required=False)

    return check


def matches(pattern: str, *, max_length: int | None = None, min_length: int = 1) -> Check:
    """A string that matches `pattern` as a whole, `min_length` to `max_length` characters."""
    compiled = regex.compile(pattern)

    def check(value: Any) -> list[str]:
        if not isinstance(value, str):
            return [f"expected a string, got {value!r}"]
        found = []
        if not compiled.fullmatch(value):
            found.append(f"{value!r} does not match {pattern}")
        if len(value) < min_length or (max_length is not None and len(value) > max_length):
            found.append(f"{value!r} has {len(value)} characters ({min_length}-{max_length})")
        return found

    return check


def at_most(characters: int, *, utf8_bytes: int | None = None) -> Check:
    """A string of at most so many characters (and UTF-8 bytes)."""

    def check(value: Any) -> list[str]:
        if not isinstance(value, str):
            return [f"expected a string, got {value!r}"]
        if len(value) > characters:
            return [f"{len(value)} characters, at most {characters}: {value[:60]!r}..."]
        if utf8_bytes is not None and len(value.encode()) > utf8_bytes:
            return [f"{len(value.encode())} bytes, at most {utf8_bytes}"]
        return []

    return check


def one_of(*allowed: Any) -> Check:
    return lambda value: [] if value in allowed else [f"{value!r} is not one of {allowed}"]


def between(low: float, high: float, *, also: tuple[Any, ...] = ()) -> Check:
    def check(value: Any) -> list[str]:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"expected a number, got {value!r}"]
        if value in also or low <= value <= high:
            return []
        return [f"{value} is outside {low}-{high}" + (f" (or {also})" if also else "")]

    return check


def each_key_and_value(key: Check, value: Check, *, max_entries: int | None = None) -> Check:
    """A map whose keys pass `key` and whose values pass `value`."""

    def check(mapping: Any) -> list[str]:
        if not isinstance(mapping, Mapping):
            return [f"expected a map, got {mapping!r}"]
        found = (
            [f"{len(mapping)} entries, at most {max_entries}"]
            if (max_entries is not None and len(mapping) > max_entries)
            else []
        )
        for k, v in mapping.items():
            found += [f"key {k!r}: {p}" for p in key(k)]
            found += [f"value of {k!r}: {p}" for p in value(v)]
        return found

    return check


def each(inner: Check) -> Check:
    """Every item of a list passes `inner`."""

    def check(items: Any) -> list[str]:
        if not isinstance(items, (list, tuple)):
            return [f"expected a list, got {items!r}"]
        return [f"[{i}]: {p}" for i, item in enumerate(items) for p in inner(item)]

    return check


def json_text(inner: Check) -> Check:
    """A string holding JSON whose parsed value passes `inner`."""

    def check(value: Any) -> list[str]:
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError) as error:
            return [f"not JSON: {error}"]
        return inner(parsed)

    return check


def both(*checks: Check) -> Check:
    return lambda value: [p for check in checks for p in check(value)]


SCHEMAS = Path(__file__).with_name("schemas")


def _strict(schema: Any) -> Any:
    """`additionalProperties: false` on every object that lists properties: the API server
    prunes a structural CRD's unknown fields silently, so a misspelt field would vanish."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and out.get("type") == "object":
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def _crd_schema(file: str) -> Any:
    return _strict(json.loads((SCHEMAS / file).read_text()))


def crd_schema(file: str) -> Check:
    """The whole object against a CRD's openAPIV3Schema (tests/infra/schemas)."""

    def check(manifest: Any) -> list[str]:
        validator = jsonschema.Draft7Validator(_crd_schema(file))
        return [
            f"{'.'.join(map(str, e.absolute_path)) or '(object)'}: {e.message}"
            for e in validator.iter_errors(manifest)
        ]

    return check


K8S_VERSION = kubernetes_validate.utils.latest_version()


@cache
def _k8s_validator(api_version: str, kind: str) -> jsonschema.Validator:
    """kubernetes-validate's strict schema of one kind, loaded once (its `validate` re-reads the
    schema files on every call)."""
    from kubernetes_validate.utils import schema_contents
    from referencing import Registry, Resource

    folder = f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"
    group_version = regex.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", K8S_VERSION)
    definitions = schema_contents(f"{folder}/_definitions.json", K8S_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def k8s_openapi(manifest: Any) -> list[str]:
    """A built-in kind against the Kubernetes OpenAPI schema (kubernetes-validate, strict)."""
    validator = _k8s_validator(manifest.get("apiVersion", ""), manifest.get("kind", ""))
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '(object)'}: {e.message} "
        f"(Kubernetes {K8S_VERSION} OpenAPI schema)"
        for e in validator.iter_errors(manifest)
    ]


# --- Shared rules (patterns and their sources) --------------------------------------------------
# EC2: "Constraints: Up to 255 characters in length. Allowed characters are a-z, A-Z, 0-9,
# spaces, and ._-:/()#,@[]+=&;{}!$*" (API reference: IpRange.Description, UserIdGroupPair,
# CreateSecurityGroup GroupDescription and GroupName). Not in botocore's ec2 model.
EC2_TEXT = r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*"
EC2_SOURCE = (
    "EC2 API reference (IpRange, UserIdGroupPair, CreateSecurityGroup): a-zA-Z0-9, space and "
    "._-:/()#,@[]+=&;{}!$*, at most 255 characters"
)
# ELB: "This name must be unique per region per account, can have a maximum of 32 characters,
# must contain only alphanumeric characters or hyphens, and must not begin or end with a hyphen"
# (ELBv2 API reference, CreateLoadBalancer.Name and CreateTargetGroup.Name).
ELB_NAME = matches(r"(?!internal-)[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?", max_length=32)
# AWS tags: "letters, numbers, and spaces representable in UTF-8, and the following characters:
# + - = . _ : / @"; keys 1-128, values 0-256, `aws:` reserved (Tagging AWS resources, "Tag naming
# limits and requirements").
AWS_TAG_KEY = both(
    matches(r"(?!aws:)[\p{L}\p{Z}\p{N}_.:/=+\-@]+", max_length=128),
)
AWS_TAG_VALUE = matches(r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*", max_length=256, min_length=0)
AWS_TAG_SOURCE = (
    "AWS General Reference, tagging: keys 1-128 and values 0-256 of letters, digits, spaces and "
    "+-=._:/@; no aws: prefix"
)
# ECS: cluster, service, family and container names: "Up to 255 letters (uppercase and
# lowercase), numbers, underscores, and hyphens are allowed" (ECS API reference).
ECS_NAME = matches(r"[a-zA-Z0-9_-]+", max_length=255)
# ACM: "The first domain name you enter cannot exceed 64 octets, including periods" (ACM API
# reference, RequestCertificate.DomainName): it becomes the certificate's subject CN.
ACM_FIRST_NAME = at_most(64)

# GCP: resource names (Compute Engine "Naming resources", RFC 1035; the provider's
# verify.ValidateGCEName): a lowercase letter, then lowercase letters, digits or hyphens, not
# ending in a hyphen; 63 at most.
GCE_NAME = matches(r"[a-z](?:[-a-z0-9]*[a-z0-9])?", max_length=63)
# GCP labels (Resource Manager, "Labels: requirements"): keys 1-63, starting with a lowercase
# letter; keys and values lowercase letters, digits, _ and -, international characters allowed;
# values 0-63; at most 64 labels.
GCP_LABEL_KEY = matches(r"[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]*", max_length=63)
GCP_LABEL_VALUE = matches(r"[\p{Ll}\p{Lo}\p{N}_-]*", max_length=63, min_length=0)
GCP_LABELS = each_key_and_value(GCP_LABEL_KEY, GCP_LABEL_VALUE, max_entries=64)
# Cloud Monitoring user labels (AlertPolicy.user_labels): "up to 64 entries. Each key and value
# is limited to 63 Unicode characters or 128 bytes ... only lowercase letters, numerals,
# underscores, and dashes. Keys must begin with a letter."
MONITORING_LABELS = each_key_and_value(
    matches(r"[a-z][a-z0-9_-]*", max_length=63),
    matches(r"[a-z0-9_-]*", max_length=63, min_length=0),
    max_entries=64,
)

# Kubernetes ("Object Names and IDs", apimachinery validation): DNS-1123 subdomain (253) for most
# object names, DNS-1123 label (63) for namespaces, DNS-1035 label (63) for Services; labels are
# a qualified-name key and a 63-character value; annotations total at most 256 KiB.
_DNS1123_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = matches(rf"{_DNS1123_LABEL}(?:\.{_DNS1123_LABEL})*", max_length=253)
DNS1123_LABEL = matches(_DNS1123_LABEL, max_length=63)
DNS1035_LABEL = matches(r"[a-z](?:[-a-z0-9]*[a-z0-9])?", max_length=63)
_QUALIFIED = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"


def k8s_qualified_name(value: Any) -> list[str]:
    if not isinstance(value, str):
        return [f"expected a string, got {value!r}"]
    prefix, _, name = value.rpartition("/")
    found = matches(_QUALIFIED, max_length=63)(name)
    if prefix:
        found += DNS1123_SUBDOMAIN(prefix)
    return found


K8S_LABELS = each_key_and_value(
    k8s_qualified_name, matches(rf"(?:{_QUALIFIED})?", max_length=63, min_length=0)
)
K8S_SOURCE = (
    "Kubernetes docs, Object Names and IDs / Labels and Selectors (apimachinery validation)"
)


def k8s_annotations(value: Any) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"expected a map, got {value!r}"]
    found = [p for k in value for p in k8s_qualified_name(k)]
    size = sum(len(k.encode()) + len(str(v).encode()) for k, v in value.items())
    return found + ([f"annotations total {size} bytes, at most 262144"] if size > 262144 else [])


# --- AWS: how each input reaches its API ------------------------------------------------------


def _alarm_metrics(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """metric_query blocks -> PutMetricAlarm's Metrics (MetricDataQuery)."""
    out = []
    for query in queries:
        item = {k: v for k, v in query.items() if k != "metric"}
        if "metric" in query:
            metric = dict(query["metric"])
            item["MetricStat"] = {
                "Metric": {
                    "Namespace": metric.pop("namespace", None),
                    "MetricName": metric.pop("metricName", None),
                    "Dimensions": _dimensions(metric.pop("dimensions", {})),
                },
                **metric,
            }
        out.append(item)
    return out


def _dimensions(mapping: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in mapping.items()]


def _health_check(block: Mapping[str, Any]) -> dict[str, Any]:
    """A target group's health_check block -> CreateTargetGroup's HealthCheck* members."""
    names = {"enabled": "HealthCheckEnabled", "path": "HealthCheckPath",
             "port": "HealthCheckPort", "protocol": "HealthCheckProtocol",
             "interval": "HealthCheckIntervalSeconds", "timeout": "HealthCheckTimeoutSeconds",
             "healthyThreshold": "HealthyThresholdCount",
             "unhealthyThreshold": "UnhealthyThresholdCount"}  # fmt: skip
    out: dict[str, Any] = {names.get(k, k): v for k, v in block.items() if k != "matcher"}
    if "matcher" in block:
        out["Matcher"] = {"HttpCode": block["matcher"]}
    return out


def _attribute(value: Any) -> str:
    """A load balancer or target group attribute's value, which the API takes as a string."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _int_or(value: Any) -> Any:
    """A provider's "nullable int" (a string such as "5") as the number it sends; else as is."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _bake_times_as_ints(value: Any) -> Any:
    """ECS's deploymentConfiguration with the provider's string bake times as its integers."""
    if isinstance(value, Mapping):
        return {
            k: _int_or(v) if k.lower().endswith("baketimeinminutes") else _bake_times_as_ints(v)
            for k, v in value.items()
        }
    return value


def same_name(
    types: str, service: str, operation: str, fields: str, *, under: str = ""
) -> list[Rule]:
    """One row per input that is the request member of the same name (case aside)."""
    prefix = f"{under}." if under else ""
    return [
        Rule(
            types, field, api(service, operation, prefix + field), f"botocore {service} {operation}"
        )
        for field in fields.split("|")
    ]


SG_RULE = "aws:vpc/securityGroup*Rule:*"
ECS_SERVICE = "aws:ecs/service:Service"
TASK_DEF = "aws:ecs/taskDefinition:TaskDefinition"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LB = "aws:lb/loadBalancer:LoadBalancer"
TG = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
RULE = "aws:lb/listenerRule:ListenerRule"
RECORD = "aws:route53/record:Record"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
RRSET = "ChangeBatch.Changes[].ResourceRecordSet"


def _sg_rules(direction: str) -> list[Rule]:
    op = f"AuthorizeSecurityGroup{direction}"
    kind = f"aws:vpc/securityGroup{direction}Rule:SecurityGroup{direction}Rule"
    source = f"botocore ec2 {op}"
    return [
        Rule(kind, "securityGroupId", api("ec2", op, "GroupId"), source),
        Rule(kind, "ipProtocol", api("ec2", op, "IpPermissions[].IpProtocol"), source),
        Rule(kind, "fromPort", api("ec2", op, "IpPermissions[].FromPort"), source),
        Rule(kind, "toPort", api("ec2", op, "IpPermissions[].ToPort"), source),
        Rule(kind, "cidrIpv4", api("ec2", op, "IpPermissions[].IpRanges[].CidrIp"), source),
        Rule(
            kind,
            "referencedSecurityGroupId",
            api("ec2", op, "IpPermissions[].UserIdGroupPairs[].GroupId"),
            source,
        ),
        Rule(kind, "description", api("ec2", op, "IpPermissions[].IpRanges[].Description"), source),
        Rule(kind, "description", matches(EC2_TEXT, max_length=255), EC2_SOURCE),
    ]


AWS_RULES: list[Rule] = [
    # The provider: default tags land on every resource; its own settings reach no API.
    Rule(
        "pulumi:providers:aws",
        "defaultTags.tags",
        each_key_and_value(AWS_TAG_KEY, AWS_TAG_VALUE, max_entries=50),
        AWS_TAG_SOURCE,
    ),
    Rule(
        "aws:*",
        "tags|tagsAll",
        each_key_and_value(AWS_TAG_KEY, AWS_TAG_VALUE, max_entries=50),
        AWS_TAG_SOURCE,
    ),
    Rule(
        "pulumi:providers:aws",
        "region",
        matches(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d"),
        "AWS region names (General Reference, Regions and endpoints)",
    ),
    Rule("pulumi:providers:aws", "skip*", None, "provider settings: sent to no API"),
    # Network.
    Rule("aws:ec2/vpc:Vpc", "cidrBlock", api("ec2", "CreateVpc", "CidrBlock"), "botocore ec2"),
    Rule(
        "aws:ec2/vpc:Vpc",
        "enableDns*",
        api("ec2", "ModifyVpcAttribute", "EnableDnsSupport.Value"),
        "botocore ec2 ModifyVpcAttribute (AttributeBooleanValue)",
    ),
    *same_name("aws:ec2/subnet:Subnet", "ec2", "CreateSubnet", "availabilityZone|cidrBlock|vpcId"),
    Rule(
        "aws:ec2/internetGateway:InternetGateway",
        "vpcId",
        api("ec2", "AttachInternetGateway", "VpcId"),
        "botocore ec2",
    ),
    Rule(
        "aws:ec2/routeTable:RouteTable",
        "vpcId",
        api("ec2", "CreateRouteTable", "VpcId"),
        "botocore ec2",
    ),
    Rule(
        "aws:ec2/routeTable:RouteTable",
        "routes[]",
        api("ec2", "CreateRoute", renames={"cidrBlock": "DestinationCidrBlock"}),
        "botocore ec2 CreateRoute",
    ),
    *same_name(
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "ec2",
        "AssociateRouteTable",
        "routeTableId|subnetId",
    ),
    Rule(
        "aws:ec2/securityGroup:SecurityGroup",
        "name",
        api("ec2", "CreateSecurityGroup", "GroupName"),
        "botocore ec2 CreateSecurityGroup",
    ),
    Rule(
        "aws:ec2/securityGroup:SecurityGroup",
        "name",
        both(matches(EC2_TEXT, max_length=255), matches(r"(?!sg-).*")),
        EC2_SOURCE + "; not sg-*",
    ),
    Rule(
        "aws:ec2/securityGroup:SecurityGroup",
        "description",
        api("ec2", "CreateSecurityGroup", "Description"),
        "botocore ec2 CreateSecurityGroup",
    ),
    Rule(
        "aws:ec2/securityGroup:SecurityGroup",
        "description",
        matches(EC2_TEXT, max_length=255),
        EC2_SOURCE,
    ),
    Rule(
        "aws:ec2/securityGroup:SecurityGroup",
        "vpcId",
        api("ec2", "CreateSecurityGroup", "VpcId"),
        "botocore ec2",
    ),
    *_sg_rules("Ingress"),
    *_sg_rules("Egress"),
    # Registry.
    Rule(
        "aws:ecr/repository:Repository",
        "name",
        api("ecr", "CreateRepository", "repositoryName"),
        "botocore ecr CreateRepository",
    ),
    *same_name(
        "aws:ecr/repository:Repository",
        "ecr",
        "CreateRepository",
        "imageScanningConfiguration|imageTagMutability",
    ),
    Rule(
        "aws:ecr/repository:Repository",
        "forceDelete",
        None,
        "provider behaviour (DeleteRepository with force): no value is sent on create",
    ),
    Rule(
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "policy",
        api("ecr", "PutLifecyclePolicy", "lifecyclePolicyText"),
        "botocore ecr",
    ),
    Rule(
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        "repository",
        api("ecr", "PutLifecyclePolicy", "repositoryName"),
        "botocore ecr",
    ),
    # Load balancer.
    Rule(LB, "name", api("elbv2", "CreateLoadBalancer", "Name"), "botocore elbv2"),
    Rule(
        LB,
        "name",
        ELB_NAME,
        "ELBv2 API reference, CreateLoadBalancer.Name: 32 characters, "
        "alphanumerics and hyphens, no hyphen at either end, not internal-*",
    ),
    Rule(
        LB,
        "internal",
        api(
            "elbv2",
            "CreateLoadBalancer",
            "Scheme",
            convert=lambda internal: "internal" if internal else "internet-facing",
        ),
        "botocore elbv2",
    ),
    Rule(LB, "loadBalancerType", api("elbv2", "CreateLoadBalancer", "Type"), "botocore elbv2"),
    Rule(
        LB, "ipAddressType", api("elbv2", "CreateLoadBalancer", "IpAddressType"), "botocore elbv2"
    ),
    Rule(
        LB, "securityGroups", api("elbv2", "CreateLoadBalancer", "SecurityGroups"), "botocore elbv2"
    ),
    Rule(LB, "subnets", api("elbv2", "CreateLoadBalancer", "Subnets"), "botocore elbv2"),
    Rule(
        LB,
        "idleTimeout",
        between(1, 4000),
        "ELBv2 load balancer attributes: idle_timeout.timeout_seconds 1-4000",
    ),
    Rule(
        LB,
        "idleTimeout|dropInvalidHeaderFields|enableDeletionProtection",
        api("elbv2", "ModifyLoadBalancerAttributes", "Attributes[].Value", convert=_attribute),
        "botocore elbv2 ModifyLoadBalancerAttributes (values are strings)",
    ),
    Rule(TG, "name", api("elbv2", "CreateTargetGroup", "Name"), "botocore elbv2"),
    Rule(
        TG,
        "name",
        ELB_NAME,
        "ELBv2 API reference, CreateTargetGroup.Name: 32 characters, "
        "alphanumerics and hyphens, no hyphen at either end",
    ),
    *same_name(TG, "elbv2", "CreateTargetGroup", "port|protocol|targetType|vpcId"),
    Rule(
        TG,
        "healthCheck",
        api("elbv2", "CreateTargetGroup", convert=_health_check),
        "botocore elbv2 CreateTargetGroup (HealthCheck* members)",
    ),
    Rule(
        TG,
        "deregistrationDelay",
        between(0, 3600),
        "ELBv2 target group attributes: deregistration_delay.timeout_seconds 0-3600",
    ),
    Rule(
        TG,
        "deregistrationDelay",
        api("elbv2", "ModifyTargetGroupAttributes", "Attributes[].Value", convert=_attribute),
        "botocore elbv2 ModifyTargetGroupAttributes",
    ),
    *same_name(LISTENER, "elbv2", "CreateListener", "loadBalancerArn|port|protocol|sslPolicy"),
    Rule(
        LISTENER,
        "certificateArn",
        api("elbv2", "CreateListener", "Certificates[].CertificateArn"),
        "botocore elbv2 CreateListener",
    ),
    Rule(
        LISTENER,
        "defaultActions",
        api(
            "elbv2",
            "CreateListener",
            "DefaultActions",
            renames={
                "redirect": "RedirectConfig",
                "fixedResponse": "FixedResponseConfig",
                "forward": "ForwardConfig",
            },
        ),
        "botocore elbv2 CreateListener",
    ),
    # ECS.
    Rule(
        "aws:ecs/cluster:Cluster",
        "name",
        api("ecs", "CreateCluster", "clusterName"),
        "botocore ecs",
    ),
    Rule(
        "aws:ecs/cluster:Cluster",
        "name",
        ECS_NAME,
        "ECS API reference, CreateCluster.clusterName: 255 letters, digits, _ and -",
    ),
    Rule(
        "aws:ecs/cluster:Cluster",
        "settings",
        api("ecs", "CreateCluster", "settings"),
        "botocore ecs",
    ),
    Rule(
        TASK_DEF,
        "containerDefinitions",
        json_text(api("ecs", "RegisterTaskDefinition", "containerDefinitions")),
        "botocore ecs RegisterTaskDefinition",
    ),
    Rule(
        TASK_DEF,
        "containerDefinitions",
        json_text(each(lambda c: ECS_NAME(c.get("name")))),
        "ECS API reference, ContainerDefinition.name: 255 letters, digits, _ and -",
    ),
    Rule(
        TASK_DEF,
        "family",
        ECS_NAME,
        "ECS API reference, RegisterTaskDefinition.family: 255 letters, digits, _ and -",
    ),
    *same_name(
        TASK_DEF,
        "ecs",
        "RegisterTaskDefinition",
        "family|networkMode|volumes|memory|cpu|"
        "executionRoleArn|taskRoleArn|requiresCompatibilities|ephemeralStorage|"
        "runtimePlatform",
    ),
    Rule(ECS_SERVICE, "name", api("ecs", "CreateService", "serviceName"), "botocore ecs"),
    Rule(
        ECS_SERVICE,
        "name",
        ECS_NAME,
        "ECS API reference, CreateService.serviceName: 255 letters, digits, _ and -",
    ),
    *same_name(
        ECS_SERVICE,
        "ecs",
        "CreateService",
        "cluster|taskDefinition|desiredCount|"
        "launchType|loadBalancers|healthCheckGracePeriodSeconds|propagateTags|"
        "availabilityZoneRebalancing|enableEcsManagedTags",
    ),
    Rule(
        ECS_SERVICE,
        "alarms",
        api("ecs", "CreateService", "deploymentConfiguration.alarms"),
        "botocore ecs CreateService",
    ),
    Rule(
        ECS_SERVICE,
        "deploymentCircuitBreaker",
        api("ecs", "CreateService", "deploymentConfiguration.deploymentCircuitBreaker"),
        "botocore ecs CreateService",
    ),
    Rule(
        ECS_SERVICE,
        "deploymentMaximumPercent",
        api("ecs", "CreateService", "deploymentConfiguration.maximumPercent"),
        "botocore ecs",
    ),
    Rule(
        ECS_SERVICE,
        "deploymentMinimumHealthyPercent",
        api("ecs", "CreateService", "deploymentConfiguration.minimumHealthyPercent"),
        "botocore ecs",
    ),
    Rule(
        ECS_SERVICE,
        "networkConfiguration",
        api(
            "ecs",
            "CreateService",
            "networkConfiguration.awsvpcConfiguration",
            convert=lambda n: {
                **n,
                "assignPublicIp": "ENABLED" if n.get("assignPublicIp") else "DISABLED",
            },
        ),
        "botocore ecs CreateService",
    ),
    Rule(ECS_SERVICE, "waitForSteadyState", None, "provider behaviour: it polls, sends nothing"),
    # Issue 19, rollouts: ECS's canary and linear deployments, their listener rule and role.
    Rule(
        ECS_SERVICE,
        "deploymentConfiguration",
        api("ecs", "CreateService", "deploymentConfiguration", convert=_bake_times_as_ints),
        "botocore ecs CreateService (the provider sends its string bake times as integers)",
    ),
    Rule(
        ECS_SERVICE,
        "deploymentConfiguration.bakeTimeInMinutes|"
        "deploymentConfiguration.canaryConfiguration.canaryBakeTimeInMinutes|"
        "deploymentConfiguration.linearConfiguration.stepBakeTimeInMinutes",
        lambda v: between(0, 1440)(_int_or(v)),
        "ECS API reference, DeploymentConfiguration, CanaryConfiguration, LinearConfiguration: "
        "bake times 0-1440 minutes",
    ),
    Rule(
        ECS_SERVICE,
        "deploymentConfiguration.canaryConfiguration.canaryPercent",
        between(0.1, 100),
        "ECS API reference, CanaryConfiguration.canaryPercent: 0.1-100.0",
    ),
    Rule(
        ECS_SERVICE,
        "deploymentConfiguration.linearConfiguration.stepPercent",
        between(3, 100),
        "ECS API reference, LinearConfiguration.stepPercent: 3.0-100.0",
    ),
    *same_name(RULE, "elbv2", "CreateRule", "listenerArn|priority"),
    Rule(
        RULE,
        "conditions",
        api("elbv2", "CreateRule", "Conditions", renames={"pathPattern": "PathPatternConfig"}),
        "botocore elbv2 CreateRule",
    ),
    Rule(
        RULE,
        "actions",
        api(
            "elbv2",
            "CreateRule",
            "Actions",
            renames={"forward": "ForwardConfig", "arn": "TargetGroupArn"},
        ),
        "botocore elbv2 CreateRule",
    ),
    Rule(
        RULE,
        "actions[].forward.targetGroups[].weight",
        between(0, 999),
        "ELBv2 API reference, TargetGroupTuple.Weight: 0-999",
    ),
    *same_name(
        "aws:appautoscaling/target:Target",
        "application-autoscaling",
        "RegisterScalableTarget",
        "maxCapacity|minCapacity|resourceId|scalableDimension|serviceNamespace",
    ),
    Rule(
        "aws:appautoscaling/policy:Policy",
        "name",
        api("application-autoscaling", "PutScalingPolicy", "PolicyName"),
        "botocore application-autoscaling",
    ),
    *same_name(
        "aws:appautoscaling/policy:Policy",
        "application-autoscaling",
        "PutScalingPolicy",
        "policyType|resourceId|scalableDimension|serviceNamespace|"
        "targetTrackingScalingPolicyConfiguration",
    ),
    # IAM.
    Rule("aws:iam/role:Role", "name", api("iam", "CreateRole", "RoleName"), "botocore iam"),
    Rule(
        "aws:iam/role:Role", "description", api("iam", "CreateRole", "Description"), "botocore iam"
    ),
    Rule(
        "aws:iam/role:Role",
        "assumeRolePolicy",
        api("iam", "CreateRole", "AssumeRolePolicyDocument"),
        "botocore iam",
    ),
    Rule(
        "aws:iam/rolePolicy:RolePolicy",
        "name",
        api("iam", "PutRolePolicy", "PolicyName"),
        "botocore iam",
    ),
    Rule(
        "aws:iam/rolePolicy:RolePolicy",
        "policy",
        api("iam", "PutRolePolicy", "PolicyDocument"),
        "botocore iam",
    ),
    Rule(
        "aws:iam/rolePolicy:RolePolicy",
        "role",
        api("iam", "PutRolePolicy", "RoleName"),
        "botocore iam",
    ),
    Rule(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "policyArn",
        api("iam", "AttachRolePolicy", "PolicyArn"),
        "botocore iam",
    ),
    Rule(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "role",
        api("iam", "AttachRolePolicy", "RoleName"),
        "botocore iam",
    ),
    # Logs, alarms, dashboards, notifications.
    Rule(
        "aws:cloudwatch/logGroup:LogGroup",
        "name",
        api("logs", "CreateLogGroup", "logGroupName"),
        "botocore logs",
    ),
    Rule(
        "aws:cloudwatch/logGroup:LogGroup",
        "retentionInDays",
        one_of(
            1,
            3,
            5,
            7,
            14,
            30,
            60,
            90,
            120,
            150,
            180,
            365,
            400,
            545,
            731,
            1096,
            1827,
            2192,
            2557,
            2922,
            3288,
            3653,
        ),
        "CloudWatch Logs API reference, PutRetentionPolicy.retentionInDays: the values allowed",
    ),
    Rule(
        "aws:cloudwatch/logGroup:LogGroup",
        "retentionInDays",
        api("logs", "PutRetentionPolicy", "retentionInDays"),
        "botocore logs",
    ),
    Rule(ALARM, "name", api("cloudwatch", "PutMetricAlarm", "AlarmName"), "botocore cloudwatch"),
    Rule(
        ALARM,
        "name",
        matches(r"[^\x00-\x1f\x7f]+", max_length=255),
        "CloudWatch API reference, PutMetricAlarm.AlarmName: UTF-8, no ASCII control characters",
    ),
    Rule(
        ALARM,
        "treatMissingData",
        one_of("breaching", "notBreaching", "ignore", "missing"),
        "CloudWatch API reference, PutMetricAlarm.TreatMissingData: the values allowed",
    ),
    Rule(
        ALARM,
        "dimensions",
        api("cloudwatch", "PutMetricAlarm", "Dimensions", convert=_dimensions),
        "botocore cloudwatch PutMetricAlarm",
    ),
    Rule(
        ALARM,
        "metricQueries",
        api("cloudwatch", "PutMetricAlarm", "Metrics", convert=_alarm_metrics),
        "botocore cloudwatch PutMetricAlarm",
    ),
    Rule(
        ALARM,
        "metricQueries[].id",
        matches(r"[a-z][a-zA-Z0-9_]*", max_length=255),
        "CloudWatch API reference, MetricDataQuery.Id: a lowercase letter first, then letters, "
        "digits and _",
    ),
    *same_name(
        ALARM,
        "cloudwatch",
        "PutMetricAlarm",
        "alarmActions|alarmDescription|"
        "comparisonOperator|datapointsToAlarm|evaluationPeriods|extendedStatistic|"
        "metricName|namespace|okActions|period|statistic|threshold|treatMissingData|"
        "actionsEnabled|insufficientDataActions|unit",
    ),
    Rule(
        "aws:cloudwatch/dashboard:Dashboard",
        "dashboardName",
        matches(r"[a-zA-Z0-9_-]+", max_length=255),
        "CloudWatch API reference, PutDashboard.DashboardName: alphanumerics, - and _",
    ),
    *same_name(
        "aws:cloudwatch/dashboard:Dashboard",
        "cloudwatch",
        "PutDashboard",
        "dashboardName|dashboardBody",
    ),
    Rule("aws:sns/topic:Topic", "name", api("sns", "CreateTopic", "Name"), "botocore sns"),
    Rule(
        "aws:sns/topic:Topic",
        "name",
        matches(r"[a-zA-Z0-9_-]+", max_length=256),
        "SNS API reference, CreateTopic.Name: up to 256 alphanumerics, - and _",
    ),
    Rule(
        "aws:sns/topicSubscription:TopicSubscription",
        "topic",
        api("sns", "Subscribe", "TopicArn"),
        "botocore sns",
    ),
    *same_name(
        "aws:sns/topicSubscription:TopicSubscription", "sns", "Subscribe", "protocol|endpoint"
    ),
    # The public edge.
    *same_name(
        "aws:acm/certificate:Certificate",
        "acm",
        "RequestCertificate",
        "domainName|validationMethod|subjectAlternativeNames",
    ),
    Rule(
        "aws:acm/certificate:Certificate",
        "domainName",
        ACM_FIRST_NAME,
        "ACM API reference, RequestCertificate.DomainName: the first name is at most 64 octets",
    ),
    Rule(
        "aws:acm/certificateValidation:CertificateValidation",
        "certificateArn",
        api("acm", "DescribeCertificate", "CertificateArn"),
        "botocore acm",
    ),
    Rule(
        "aws:acm/certificateValidation:CertificateValidation",
        "validationRecordFqdns",
        None,
        "provider behaviour: the names it waits for, sent to no API",
    ),
    Rule(
        RECORD,
        "zoneId",
        api("route53", "ChangeResourceRecordSets", "HostedZoneId"),
        "botocore route53",
    ),
    *same_name(RECORD, "route53", "ChangeResourceRecordSets", "name|type|ttl", under=RRSET),
    Rule(
        RECORD,
        "records",
        api(
            "route53",
            "ChangeResourceRecordSets",
            f"{RRSET}.ResourceRecords",
            convert=lambda rs: [{"Value": r} for r in rs],
        ),
        "botocore route53",
    ),
    Rule(
        RECORD,
        "aliases[]",
        api(
            "route53",
            "ChangeResourceRecordSets",
            f"{RRSET}.AliasTarget",
            renames={"name": "DNSName", "zoneId": "HostedZoneId"},
        ),
        "botocore route53",
    ),
    Rule(RECORD, "allowOverwrite", None, "provider behaviour: UPSERT instead of CREATE"),
    *same_name(
        "aws:secretsmanager/secret:Secret", "secretsmanager", "CreateSecret", "name|description"
    ),
    Rule(
        "aws:secretsmanager/secret:Secret",
        "name",
        matches(r"[a-zA-Z0-9/_+=.@-]+", max_length=512),
        "Secrets Manager API reference, CreateSecret.Name: letters, digits and /_+=.@-",
    ),
    Rule(
        "aws:secretsmanager/secret:Secret",
        "recoveryWindowInDays",
        between(7, 30, also=(0,)),
        "Secrets Manager DeleteSecret: 7-30 days; the provider sends 0 as "
        "ForceDeleteWithoutRecovery",
    ),
    *same_name(
        "aws:secretsmanager/secretVersion:SecretVersion",
        "secretsmanager",
        "PutSecretValue",
        "secretId|secretString",
    ),
    *same_name(
        WEB_ACL,
        "wafv2",
        "CreateWebACL",
        "name|description|defaultAction|rules|scope|visibilityConfig",
    ),
    Rule(
        WEB_ACL,
        "customResponseBodies",
        api(
            "wafv2",
            "CreateWebACL",
            "CustomResponseBodies",
            convert=lambda bodies: {
                b["key"]: {k: v for k, v in b.items() if k != "key"} for b in bodies
            },
        ),
        "botocore wafv2 CreateWebACL",
    ),
    *same_name(
        "aws:wafv2/webAclAssociation:WebAclAssociation",
        "wafv2",
        "AssociateWebACL",
        "webAclArn|resourceArn",
    ),
]


# --- GCP ----------------------------------------------------------------------------------------
GCP_RULES: list[Rule] = [
    Rule(
        "pulumi:providers:gcp",
        "defaultLabels",
        GCP_LABELS,
        "Resource Manager docs, Labels: requirements",
    ),
    Rule(
        "pulumi:providers:gcp",
        "project",
        matches(r"[a-z][-a-z0-9]{4,28}[a-z0-9]"),
        "Resource Manager, Project.projectId: 6-30 lowercase letters, digits, hyphens",
    ),
    Rule("pulumi:providers:gcp", "region", matches(r"[a-z]+-[a-z]+\d"), "Compute regions"),
    Rule(
        "gcp:projects/service:Service",
        "service",
        matches(r"[a-z0-9.-]+\.googleapis\.com"),
        "Service Usage API: a service's name",
    ),
    Rule("gcp:projects/service:Service", "disable*", None, "provider behaviour on destroy"),
    Rule("gcp:*", "role", matches(r"roles/[a-zA-Z0-9_.]+"), "IAM: predefined role names"),
    Rule(
        "gcp:*",
        "member",
        matches(r"(serviceAccount|user|group|domain|principal|principalSet):.+"),
        "IAM policy bindings: member prefixes",
    ),
    Rule(
        "gcp:*",
        "project|location",
        matches(r"[a-z][-a-z0-9]{4,28}[a-z0-9]|[a-z]+-[a-z]+\d(-[a-z])?"),
        "project ids (Resource Manager) and locations (regions/zones)",
    ),
    Rule(
        "gcp:artifactregistry/repository:Repository",
        "repositoryId",
        matches(r"[a-z](?:[a-z0-9-]*[a-z0-9])?", max_length=63),
        "Artifact Registry: repository names are lowercase letters, digits and hyphens, start "
        "with a letter, end with a letter or digit, at most 63",
    ),
    Rule(
        "gcp:artifactregistry/repository:Repository",
        "description",
        None,
        "no limit documented (Artifact Registry API, terraform-provider-google): not checked",
    ),
    Rule(
        "gcp:artifactregistry/repository:Repository",
        "format",
        one_of("DOCKER"),
        "Artifact Registry formats",
    ),
    Rule(
        "gcp:artifactregistry/repository:Repository",
        "cleanupPolic*",
        None,
        "cleanup policies: checked field by field in tests/infra/test_gcp.py",
    ),
    Rule(
        "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
        "repository",
        lambda v: matches(r"[a-z](?:[a-z0-9-]*[a-z0-9])?", max_length=63)(v.rpartition("/")[2]),
        "Artifact Registry repository ids (given by id or by full path)",
    ),
    Rule(
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        "bucket",
        matches(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]"),
        "Cloud Storage bucket naming",
    ),
    Rule(
        "gcp:storage/bucketIAMMember:BucketIAMMember",
        "condition",
        None,
        "IAM condition (CEL): its expression is checked in tests/infra/test_gcp_model.py",
    ),
    Rule(
        "gcp:serviceaccount/account:Account",
        "accountId",
        matches(r"[a-z](?:[-a-z0-9]{4,28}[a-z0-9])"),
        "terraform-provider-google google_service_account.account_id: "
        "verify.ValidateRFC1035Name(6, 30)",
    ),
    Rule(
        "gcp:serviceaccount/account:Account",
        "displayName",
        at_most(100),
        "IAM API, ServiceAccount.displayName: at most 100 UTF-8 bytes",
    ),
    Rule(
        "gcp:serviceaccount/account:Account",
        "description",
        at_most(256),
        "terraform-provider-google google_service_account.description: StringLenBetween(0, 256)",
    ),
    Rule(
        "gcp:compute/*",
        "name",
        GCE_NAME,
        "Compute Engine naming (RFC 1035), verify.ValidateGCEName",
    ),
    Rule(
        "gcp:compute/*",
        "description",
        at_most(2048),
        "Compute Engine: a resource's description, 2048 at most (documented for SecurityPolicy "
        "in terraform-provider-google; the same field of the other compute resources)",
    ),
    Rule(
        "gcp:compute/globalAddress:GlobalAddress",
        "addressType|ipVersion",
        one_of("EXTERNAL", "INTERNAL", "IPV4", "IPV6"),
        "Compute API, GlobalAddress enums",
    ),
    Rule(
        "gcp:compute/sSLPolicy:SSLPolicy",
        "minTlsVersion",
        one_of("TLS_1_0", "TLS_1_1", "TLS_1_2"),
        "Compute API, SslPolicy.minTlsVersion",
    ),
    Rule(
        "gcp:compute/sSLPolicy:SSLPolicy",
        "profile",
        one_of("COMPATIBLE", "MODERN", "RESTRICTED", "CUSTOM"),
        "Compute API, SslPolicy.profile",
    ),
    Rule(
        "gcp:compute/securityPolicy:SecurityPolicy",
        "type",
        one_of("CLOUD_ARMOR", "CLOUD_ARMOR_EDGE"),
        "Compute API, SecurityPolicy.type",
    ),
    Rule(
        "gcp:compute/securityPolicy:SecurityPolicy",
        "rules[].description",
        at_most(64),
        "terraform-provider-google google_compute_security_policy rule.description: Max size is 64",
    ),
    Rule(
        "gcp:compute/securityPolicy:SecurityPolicy",
        "rules[].priority",
        between(0, 2147483647),
        "Compute API, SecurityPolicyRule.priority",
    ),
    Rule(
        "gcp:compute/securityPolicy:SecurityPolicy",
        "rules[].rateLimitOptions.rateLimitThreshold.count",
        between(1, 1_000_000),
        "Cloud Armor rate limiting: 1 to 1,000,000 per interval",
    ),
    Rule(
        "gcp:compute/securityPolicy:SecurityPolicy",
        "rules[].rateLimitOptions.rateLimitThreshold.intervalSec",
        one_of(10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600),
        "Cloud Armor rate limiting: the intervals allowed",
    ),
    Rule(
        "gcp:compute/securityPolicy:SecurityPolicy",
        "rules[].**",
        None,
        "the rules' other fields: actions and CEL checked in tests/infra/test_gcp_edge.py",
    ),
    Rule(
        "gcp:container/cluster:Cluster",
        "name",
        matches(r"[a-z](?:[-a-z0-9]*[a-z0-9])?", max_length=40),
        "terraform-provider-google google_container_cluster.name: at most 40 lowercase letters, "
        "digits and hyphens, a letter first, a letter or digit last",
    ),
    Rule("gcp:container/nodePool:NodePool", "name", GCE_NAME, "GCP resource names (RFC 1035)"),
    Rule(
        "gcp:container/*",
        "cluster",
        matches(r"[a-z](?:[-a-z0-9]*[a-z0-9])?", max_length=40),
        "GKE cluster names",
    ),
    Rule(
        "gcp:container/*",
        "nodeConfig.resourceLabels|resourceLabels",
        GCP_LABELS,
        "Resource Manager docs, Labels: requirements",
    ),
    Rule(
        "gcp:artifactregistry/repository:*|gcp:compute/*|gcp:storage/*",
        "labels",
        GCP_LABELS,
        "Resource Manager docs, Labels: requirements",
    ),
    Rule("gcp:container/*", "nodeConfig.labels", K8S_LABELS, "node labels are Kubernetes labels"),
    Rule(
        "gcp:container/cluster:Cluster",
        "releaseChannel.channel",
        one_of("RAPID", "REGULAR", "STABLE", "EXTENDED"),
        "GKE release channels",
    ),
    Rule(
        "gcp:container/nodePool:NodePool",
        "nodeConfig.diskSizeGb",
        between(10, 65536),
        "GKE node boot disks: 10 GB at least",
    ),
    Rule(
        "gcp:container/*",
        "**",
        None,
        "cluster and node pool settings: enums and sizes checked in tests/infra/test_gcp*.py "
        "and by the settings (machine types, disks, release channels)",
    ),
    Rule(
        "gcp:dns/recordSet:RecordSet",
        "name",
        matches(r"(?:[a-z0-9_](?:[-a-z0-9_]*[a-z0-9])?\.)+", max_length=253),
        "Cloud DNS: a record's name is a fully qualified name with a trailing dot",
    ),
    Rule(
        "gcp:dns/recordSet:RecordSet",
        "managedZone",
        matches(r"[a-z](?:[-a-z0-9]*[a-z0-9])?", max_length=63),
        "Cloud DNS: managed zone names",
    ),
    Rule(
        "gcp:dns/recordSet:RecordSet",
        "type",
        one_of("A", "AAAA", "CNAME", "TXT"),
        "Cloud DNS types",
    ),
    Rule("gcp:dns/recordSet:RecordSet", "ttl", between(0, 2147483647), "Cloud DNS ttl"),
    Rule(
        "gcp:dns/recordSet:RecordSet",
        "rrdatas[]",
        matches(r"[0-9.]+|[0-9a-f:]+|.+\."),
        "Cloud DNS rrdatas: an address or a name",
    ),
    Rule(
        "gcp:monitoring/alertPolicy:*|gcp:monitoring/notificationChannel:*",
        "displayName",
        at_most(512),
        "terraform-provider-google (Cloud Monitoring API): AlertPolicy and "
        "NotificationChannel display names are limited to 512 Unicode characters",
    ),
    Rule(
        "gcp:monitoring/uptimeCheckConfig:*",
        "displayName",
        None,
        "no limit documented (terraform-provider-google, Cloud Monitoring API): not checked",
    ),
    Rule(
        "gcp:monitoring/alertPolicy:AlertPolicy",
        "userLabels",
        MONITORING_LABELS,
        "Cloud Monitoring API, AlertPolicy.user_labels",
    ),
    Rule(
        "gcp:monitoring/alertPolicy:AlertPolicy",
        "documentation.content",
        at_most(8192, utf8_bytes=10240),
        "terraform-provider-google google_monitoring_alert_policy documentation.content: "
        "8,192 Unicode characters and 10,240 UTF-8 bytes",
    ),
    Rule(
        "gcp:monitoring/alertPolicy:AlertPolicy",
        "documentation.mimeType",
        one_of("text/markdown"),
        "Cloud Monitoring API, Documentation.mime_type",
    ),
    Rule(
        "gcp:monitoring/alertPolicy:AlertPolicy",
        "combiner",
        one_of("OR", "AND", "AND_WITH_MATCHING_RESOURCE"),
        "Cloud Monitoring API, AlertPolicy.combiner",
    ),
    Rule(
        "gcp:monitoring/alertPolicy:AlertPolicy",
        "conditions[].displayName",
        at_most(512),
        "Cloud Monitoring API, Condition.display_name",
    ),
    Rule(
        "gcp:monitoring/alertPolicy:AlertPolicy",
        "conditions[].**|notificationChannels",
        None,
        "PromQL conditions: parsed and checked in tests/infra/test_gcp_monitoring.py",
    ),
    Rule(
        "gcp:monitoring/notificationChannel:NotificationChannel",
        "type",
        one_of("email"),
        "Cloud Monitoring channel types used here",
    ),
    Rule(
        "gcp:monitoring/notificationChannel:NotificationChannel",
        "labels.email_address",
        matches(r"[^@\s]+@[^@\s]+\.[^@\s]+"),
        "email channel: an address (the settings check it)",
    ),
    Rule(
        "gcp:monitoring/dashboard:Dashboard",
        "dashboardJson",
        None,
        "the dashboard's JSON: checked in tests/infra/test_gcp_monitoring.py",
    ),
    Rule(
        "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig",
        "period",
        one_of("60s", "300s", "600s", "900s"),
        "terraform-provider-google google_monitoring_uptime_check_config.period: the values "
        "supported",
    ),
    Rule(
        "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig",
        "timeout",
        matches(r"([1-9]|[1-5][0-9]|60)s"),
        "Cloud Monitoring API, UptimeCheckConfig.timeout: 1-60 s",
    ),
    Rule(
        "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig",
        "selectedRegions[]",
        one_of(
            "USA",
            "EUROPE",
            "SOUTH_AMERICA",
            "ASIA_PACIFIC",
            "USA_OREGON",
            "USA_IOWA",
            "USA_VIRGINIA",
        ),
        "Cloud Monitoring API, UptimeCheckRegion",
    ),
    Rule(
        "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig",
        "selectedRegions",
        lambda v: [] if len(v) >= 3 else [f"{len(v)} regions, at least 3"],
        "Cloud Monitoring API: at least 3 selected regions",
    ),
    Rule(
        "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig",
        "monitoredResource.labels.*",
        None,
        "the uptime_url resource's host and project: checked in tests/infra/test_gcp_monitoring.py",
    ),
    Rule(
        "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig",
        "monitoredResource.type",
        one_of("uptime_url"),
        "Cloud Monitoring API: uptime check resource types",
    ),
    Rule(
        "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig",
        "httpCheck.port",
        between(1, 65535),
        "TCP ports",
    ),
    Rule(
        "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig",
        "httpCheck.**",
        None,
        "the check's request: checked in tests/infra/test_gcp_monitoring.py",
    ),
]


# --- Kubernetes ---------------------------------------------------------------------------------
K8S = "kubernetes:*"
K8S_RULES: list[Rule] = [
    Rule("pulumi:providers:kubernetes", "*", None, "provider settings: sent to no API"),
    Rule(K8S, "apiVersion|kind", None, "the type token's own; the SDK sets them"),
    Rule("kubernetes:core/v1:Service", "metadata.name", DNS1035_LABEL, K8S_SOURCE + ": Service"),
    Rule(
        "kubernetes:core/v1:Namespace", "metadata.name", DNS1123_LABEL, K8S_SOURCE + ": Namespace"
    ),
    Rule(K8S, "metadata.name", DNS1123_SUBDOMAIN, K8S_SOURCE + ": DNS-1123 subdomain"),
    Rule(K8S, "metadata.namespace", DNS1123_LABEL, K8S_SOURCE + ": namespaces"),
    Rule(
        K8S,
        "metadata.labels|spec.template.metadata.labels|spec.selector.matchLabels",
        K8S_LABELS,
        K8S_SOURCE + ": label keys and values",
    ),
    Rule(
        "kubernetes:core/v1:Service",
        "spec.selector",
        K8S_LABELS,
        K8S_SOURCE + ": label keys and values",
    ),
    Rule(
        K8S,
        "metadata.annotations|spec.template.metadata.annotations",
        k8s_annotations,
        K8S_SOURCE + ": annotation keys, 256 KiB in all",
    ),
    Rule(
        K8S,
        "spec.template.spec.*ontainers[].name|spec.template.spec.volumes[].name",
        DNS1123_LABEL,
        K8S_SOURCE + ": container and volume names",
    ),
    Rule(
        K8S,
        "spec.template.spec.*ontainers[].ports[].name|spec.ports[].name|spec.endpoints[].port",
        matches(r"(?=.*[a-z])(?!.*--)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?", max_length=15),
        "Kubernetes: port names are IANA service names (15 characters)",
    ),
    Rule(
        K8S,
        "spec.template.spec.*ontainers[].env[].name",
        matches(r"[-._a-zA-Z][-._a-zA-Z0-9]*"),
        "Kubernetes: environment variable names",
    ),
    # Whole objects: the built-in kinds' OpenAPI schemas, and the CRDs' own.
    Rule(
        "kubernetes:apps/v1:Deployment|kubernetes:core/v1:*|kubernetes:autoscaling/v2:*|"
        "kubernetes:policy/v1:*|kubernetes:networking.k8s.io/v1:*",
        "",
        k8s_openapi,
        "Kubernetes OpenAPI schema (kubernetes-validate, strict)",
    ),
    Rule(
        "kubernetes:networking.gke.io/v1:ManagedCertificate",
        "",
        crd_schema("managedcertificate-v1.json"),
        "ManagedCertificate CRD (GoogleCloudPlatform/gke-managed-certs)",
    ),
    Rule(
        "kubernetes:cloud.google.com/v1:BackendConfig",
        "",
        crd_schema("backendconfig-v1.json"),
        "BackendConfig CRD (GKE ingress)",
    ),
    Rule(
        "kubernetes:networking.gke.io/v1beta1:FrontendConfig",
        "",
        crd_schema("frontendconfig-v1beta1.json"),
        "FrontendConfig CRD (GKE ingress)",
    ),
    Rule(
        "kubernetes:monitoring.googleapis.com/v1:PodMonitoring",
        "spec.**",
        None,
        "no schema stored for Managed Prometheus' PodMonitoring: its fields are checked in "
        "tests/infra/test_gcp_monitoring.py",
    ),
]


# --- Local Docker -------------------------------------------------------------------------------
# The local engine checks little beyond types; the names it refuses are rows here.
DOCKER_RULES: list[Rule] = [
    Rule(
        "docker:index/container:Container",
        "name",
        matches(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+"),
        "Docker engine: container names are [a-zA-Z0-9][a-zA-Z0-9_.-]+",
    ),
    Rule(
        "docker:index/container:Container",
        "ports[].internal|ports[].external",
        between(1, 65535),
        "TCP ports",
    ),
    Rule(
        "docker:index/container:Container",
        "envs[]",
        matches(r"[^=\s]+=.*", min_length=1),
        "Docker engine: NAME=value",
    ),
    Rule("docker:*", "**", None, "local Docker engine: no rule beyond the provider's own types"),
    Rule(
        "docker-build:index:Image",
        "tags[]",
        matches(r"[a-z0-9./_:-]+(?::[\w][\w.-]{0,127})?", max_length=255),
        "distribution reference grammar: repository[:tag]",
    ),
    Rule(
        "docker-build:index:Image",
        "platforms[]",
        one_of("linux/amd64", "linux/arm64"),
        "the platforms the targets run",
    ),
    Rule("docker-build:index:Image", "**", None, "build settings: sent to the local builder only"),
]

RULES: list[Rule] = AWS_RULES + GCP_RULES + K8S_RULES + DOCKER_RULES

# Inputs the provider fills from the logical name when the program gives none (Pulumi auto-naming:
# the name, a hyphen, random characters: 7 for the aws and gcp providers, 8 for kubernetes).
AUTO_NAMED: dict[str, tuple[str, int]] = {
    **{
        t: ("name", 7)
        for t in (
            "aws:lb/loadBalancer:LoadBalancer",
            "aws:lb/targetGroup:TargetGroup",
            "aws:cloudwatch/logGroup:LogGroup",
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            "aws:iam/role:Role",
            "aws:iam/rolePolicy:RolePolicy",
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:ecr/repository:Repository",
            "aws:ecs/cluster:Cluster",
            "aws:ecs/service:Service",
            "aws:appautoscaling/policy:Policy",
            "aws:sns/topic:Topic",
            "aws:secretsmanager/secret:Secret",
            "aws:wafv2/webAcl:WebAcl",
            "gcp:compute/globalAddress:GlobalAddress",
            "gcp:compute/sSLPolicy:SSLPolicy",
            "gcp:compute/securityPolicy:SecurityPolicy",
            "gcp:container/cluster:Cluster",
            "gcp:container/nodePool:NodePool",
        )
    },
}
K8S_AUTO_NAME_SUFFIX = 8
# Component resources have no cloud side; they send nothing.
COMPONENT_PREFIX = "echo-service:"


def _unwrap(value: Any) -> Any:
    """Secrets as their plain value (the cloud sees it), numbers as the providers send them."""
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return _unwrap(value["value"])
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return plain(value)


def _suffix(name: str, length: int) -> str:
    from tests.infra.fakes import _hex

    return _hex(name, length)


def physical_inputs(res: Res) -> dict[str, Any]:
    """The resource's inputs as the cloud gets them, with the names its provider makes."""
    inputs = _unwrap(dict(res.inputs))
    if res.type.startswith("pulumi:providers:"):
        # A provider's object and list settings reach the engine as JSON text.
        inputs = {
            k: json.loads(v) if isinstance(v, str) and v[:1] in "{[" else v
            for k, v in inputs.items()
        }
    if res.type in AUTO_NAMED:
        field, length = AUTO_NAMED[res.type]
        inputs.setdefault(field, f"{res.name}-{_suffix(res.name, length)}")
    if res.type.startswith("kubernetes:") and "metadata" in inputs:
        metadata = inputs["metadata"] = dict(inputs.get("metadata") or {})
        metadata.setdefault("name", f"{res.name}-{_suffix(res.name, K8S_AUTO_NAME_SUFFIX)}")
    return inputs


def walk(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every node of an input tree with its path (`[]` for a list item), the root first."""
    yield path, value
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from walk(item, (*path, str(key)))
    elif isinstance(value, list):
        for item in value:
            yield from walk(item, (*path, "[]"))


def _render(path: tuple[str, ...]) -> str:
    return ".".join(path).replace(".[]", "[]")


@cache
def _path_pattern(pattern: str) -> regex.Pattern[str]:
    """`a.b|c[].*|d.**` -> a regex over rendered paths (`*` one key, `**` any depth)."""
    alternatives = []
    for alternative in pattern.split("|"):
        out = ""
        i = 0
        while i < len(alternative):
            if alternative.startswith("**", i):
                out += ".*"
                i += 2
            elif alternative[i] == "*":
                out += r"[^.\[\]]*"
                i += 1
            else:
                out += regex.escape(alternative[i])
                i += 1
        alternatives.append(out)
    return regex.compile("|".join(f"(?:{a})" for a in alternatives))


def applies(rule: Rule, type_: str, path: tuple[str, ...]) -> bool:
    if not any(fnmatch.fnmatchcase(type_, t) for t in rule.types.split("|")):
        return False
    return bool(_path_pattern(rule.path).fullmatch(_render(path)))


@dataclass
class Finding:
    """What one resource breaks, and which of its values no row reaches."""

    problems: list[str]
    uncovered: list[str]
    rows: int


def check_resource(res: Res, rules: list[Rule] = RULES) -> Finding:
    """Every rule that applies to every node of the resource's inputs, and the leaves none reach."""
    inputs = physical_inputs(res)
    found: list[str] = []
    covered: list[tuple[str, ...]] = []
    used = 0
    mine = [r for r in rules if any(fnmatch.fnmatchcase(res.type, t) for t in r.types.split("|"))]
    for path, value in walk(inputs):
        for rule in mine:
            if not _path_pattern(rule.path).fullmatch(_render(path)):
                continue
            used += 1
            covered.append(path)
            if rule.check is not None:
                where = _render(path) or "(object)"
                found += [
                    f"{res.type} {res.name} {where}: {problem}  [source: {rule.source}]"
                    for problem in rule.check(value)
                ]
    uncovered = [
        _render(path)
        for path, value in walk(inputs)
        if not isinstance(value, (Mapping, list)) and not any(path[: len(c)] == c for c in covered)
    ]
    return Finding(found, uncovered, used)
