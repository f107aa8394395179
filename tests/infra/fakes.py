"""Fake outputs per resource type and fake invoke results, as the clouds would answer.

Keys are Pulumi type tokens; each function gets the resource's name and inputs (camelCase, as
sent to the engine) and returns the outputs the provider would add (camelCase too). Types not
listed echo their inputs. Invokes the program makes must be listed in FAKE_CALLS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

Outputs = Callable[[str, dict[str, Any]], dict[str, Any]]
CallResult = Callable[[dict[str, Any]], dict[str, Any]]

ACCOUNT = "123456789012"
AWS_REGION = "us-east-1"
GCP_PROJECT = "test-project"
FAKE_DIGEST = "sha256:" + "ab" * 32


def _docker_build_image(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    tags = inputs.get("tags") or []
    pushed = bool(inputs.get("push"))
    ref = f"{tags[0].rsplit(':', 1)[0]}@{FAKE_DIGEST}" if tags and pushed else (tags or [""])[0]
    return {"digest": FAKE_DIGEST if pushed or inputs.get("load") else "", "ref": ref,
            "contextHash": "c0ffee" * 10 + "beef"}  # fmt: skip


COMMON_OUTPUTS: dict[str, Outputs] = {
    "docker-build:index:Image": _docker_build_image,
}


# --- aws target -------------------------------------------------------------------------------
def _hex(name: str, length: int = 17) -> str:
    """A stable fake hex id per resource name, like the suffix of vpc-0123..., sg-0123..."""
    digest = 0xCBF29CE484222325  # FNV-1a, 64 bits: stable across runs, unlike hash()
    for byte in name.encode():
        digest = ((digest ^ byte) * 0x100000001B3) % 2**64
    return (f"{digest:016x}" * 2)[:length]


def _physical(name: str, inputs: dict[str, Any]) -> str:
    """The name AWS would hold: the one given, else Pulumi's auto-name (name + random suffix)."""
    return inputs.get("name") or f"{name}-{_hex(name, 7)}"


def _arn(service: str, resource: str, region: str = AWS_REGION) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def _ecr_repository(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    repo = _physical(name, inputs)
    return {"name": repo, "arn": _arn("ecr", f"repository/{repo}"), "registryId": ACCOUNT,
            "repositoryUrl": f"{ACCOUNT}.dkr.ecr.{AWS_REGION}.amazonaws.com/{repo}"}  # fmt: skip


def _load_balancer(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    lb = _physical(name, inputs)
    suffix = f"app/{lb}/{_hex(name, 16)}"
    return {"name": lb, "arn": _arn("elasticloadbalancing", f"loadbalancer/{suffix}"),
            "arnSuffix": suffix, "zoneId": "Z35SXDOTRQ7X7K",
            "dnsName": f"{lb}-{int(_hex(name, 8), 16)}.{AWS_REGION}.elb.amazonaws.com"}  # fmt: skip


def _target_group(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    tg = _physical(name, inputs)
    suffix = f"targetgroup/{tg}/{_hex(name, 16)}"
    return {"name": tg, "arn": _arn("elasticloadbalancing", suffix), "arnSuffix": suffix}


def _listener(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"arn": _arn("elasticloadbalancing", f"listener/app/{name}/{_hex(name, 16)}")}


def _listener_rule(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    rule = f"listener-rule/app/{name}/{_hex(name, 16)}/{_hex(name + '-rule', 16)}"
    return {"arn": _arn("elasticloadbalancing", rule)}


def _ecs_cluster(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    cluster = _physical(name, inputs)
    arn = _arn("ecs", f"cluster/{cluster}")
    return {"id": arn, "name": cluster, "arn": arn}


# What ECS runs per service name, as DescribeServices (aws.ecs.get_service) reports it: the task
# definition the service was last given. A test sets ECS_ROLLED_BACK_TO to play a circuit
# breaker that restored another one.
ECS_RUNNING: dict[str, str] = {}
ECS_ROLLED_BACK_TO: dict[str, str] = {}


def _ecs_service(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    service = _physical(name, inputs)
    ECS_RUNNING[service] = inputs.get("taskDefinition", "")
    return {"id": _arn("ecs", f"service/{service}"), "name": service}


def _get_ecs_service(args: dict[str, Any]) -> dict[str, Any]:
    service = args["serviceName"]
    running = ECS_ROLLED_BACK_TO.get("any") or ECS_RUNNING.get(service, "")
    return {"id": _arn("ecs", f"service/{service}"), "arn": _arn("ecs", f"service/{service}"),
            "serviceName": service, "clusterArn": args["clusterArn"], "desiredCount": 2,
            "launchType": "FARGATE", "schedulingStrategy": "REPLICA",
            "taskDefinition": running}  # fmt: skip


def _task_definition(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    family = inputs["family"]
    return {"id": family, "revision": 1, "arn": _arn("ecs", f"task-definition/{family}:1"),
            "arnWithoutRevision": _arn("ecs", f"task-definition/{family}")}  # fmt: skip


def _log_group(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    group = _physical(name, inputs)
    return {"id": group, "name": group, "arn": _arn("logs", f"log-group:{group}")}


def _iam_role(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    role = _physical(name, inputs)
    return {"id": role, "name": role, "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
            "uniqueId": "AROA" + _hex(name, 17).upper()}  # fmt: skip


def _ec2(prefix: str) -> Outputs:
    def outputs(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        resource_id = f"{prefix}-0{_hex(name, 16)}"
        return {"id": resource_id, "arn": _arn("ec2", f"{prefix}/{resource_id}")}

    return outputs


def _scaling_target(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"id": inputs["resourceId"],
            "arn": _arn("application-autoscaling", f"scalable-target/{_hex(name, 20)}")}  # fmt: skip


# Monitoring (issue 14): alarms and topics are auto-named; a dashboard keeps the name it is given.
def _metric_alarm(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    alarm = _physical(name, inputs)
    return {"id": alarm, "name": alarm, "arn": _arn("cloudwatch", f"alarm:{alarm}")}


def _sns_topic(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    topic = _physical(name, inputs)
    return {"id": _arn("sns", topic), "name": topic, "arn": _arn("sns", topic)}


def _dashboard(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    board = inputs["dashboardName"]
    return {"id": board, "dashboardArn": f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{board}"}


AWS_OUTPUTS: dict[str, Outputs] = {
    "aws:ecr/repository:Repository": _ecr_repository,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:lb/listener:Listener": _listener,
    "aws:lb/listenerRule:ListenerRule": _listener_rule,
    "aws:ecs/cluster:Cluster": _ecs_cluster,
    "aws:ecs/service:Service": _ecs_service,
    "aws:ecs/taskDefinition:TaskDefinition": _task_definition,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:iam/role:Role": _iam_role,
    "aws:ec2/vpc:Vpc": _ec2("vpc"),
    "aws:ec2/subnet:Subnet": _ec2("subnet"),
    "aws:ec2/internetGateway:InternetGateway": _ec2("igw"),
    "aws:ec2/routeTable:RouteTable": _ec2("rtb"),
    "aws:ec2/securityGroup:SecurityGroup": _ec2("sg"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _ec2("sgr"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _ec2("sgr"),
    "aws:appautoscaling/target:Target": _scaling_target,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "aws:sns/topic:Topic": _sns_topic,
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
}

# us-east-1's zones, with the zone ids and opt-in status a real account might see: this one has
# opted in to the Boston Local Zone, which sorts before the regular zones and runs no Fargate.
AWS_ZONES = {
    "us-east-1-bos-1a": ("use1-bos1-az1", "opted-in"),
    "us-east-1a": ("use1-az1", "opt-in-not-required"),
    "us-east-1b": ("use1-az2", "opt-in-not-required"),
    "us-east-1c": ("use1-az4", "opt-in-not-required"),
}


def _availability_zones(args: dict[str, Any]) -> dict[str, Any]:
    excluded = set(args.get("excludeZoneIds") or [])
    # DescribeAvailabilityZones filters; only the one a program would use here is modelled.
    filters = {f["name"]: set(f["values"]) for f in args.get("filters") or []}
    unknown = set(filters) - {"opt-in-status"}
    assert not unknown, f"fake zones do not model the filters {unknown}"
    zones = {
        n: zone_id
        for n, (zone_id, opt_in) in sorted(AWS_ZONES.items())
        if zone_id not in excluded and opt_in in filters.get("opt-in-status", {opt_in})
    }
    return {"id": AWS_REGION, "names": list(zones), "zoneIds": list(zones.values()),
            "groupNames": [AWS_REGION], "state": args.get("state")}  # fmt: skip


def _authorization_token(args: dict[str, Any]) -> dict[str, Any]:
    registry = args.get("registryId") or ACCOUNT
    return {"id": AWS_REGION, "registryId": registry, "userName": "AWS",
            "password": "fake-ecr-password", "authorizationToken": "QVdTOmZha2U=",
            "expiresAt": "2026-11-25T12:00:00Z",
            "proxyEndpoint": f"https://{registry}.dkr.ecr.{AWS_REGION}.amazonaws.com"}  # fmt: skip


def _caller_identity(args: dict[str, Any]) -> dict[str, Any]:
    return {"id": ACCOUNT, "accountId": ACCOUNT, "userId": "AIDAFAKEUSER",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/tester"}  # fmt: skip


# --- aws: the public edge (domain, certificate, secrets, WAF) -----------------------------------
# Route 53 public zones of the fake account, by name; tests add and remove zones.
ROUTE53_ZONES: dict[str, str] = {"example.com": "Z0EXAMPLE1234567"}
# Domains with an ISSUED ACM certificate in the fake region; tests add domains.
ACM_ISSUED: set[str] = set()


# A data source's failure, as the engine hands it to the program: the provider's error as gRPC
# status details, "invocation of <token> returned an error: <provider's message>" (the SDK then
# raises "invoke of <token> failed: <details>"). Tests put a message under a token in
# INVOKE_ERRORS to make that look-up fail so (AccessDenied, throttling, ...).
INVOKE_ERRORS: dict[str, str] = {}


class EngineInvokeError(grpc.RpcError):
    """The engine's answer to an invoke whose provider returned an error."""

    def __init__(self, token: str, message: str) -> None:
        super().__init__(message)
        self.token, self.message = token, message

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNKNOWN

    def details(self) -> str:
        return f"invocation of {self.token} returned an error: {self.message}"


def _fails(token: str, message: str | None = None) -> None:
    """Raises the engine's error for `token`: a test's injected one, else `message` if given."""
    message = INVOKE_ERRORS.get(token) or message
    if message:
        raise EngineInvokeError(token, message)


def _route53_zone(args: dict[str, Any]) -> Any:
    name = str(args.get("name", "")).rstrip(".")
    _fails("aws:route53/getZone:getZone")
    zone_id = args.get("zoneId") or ROUTE53_ZONES.get(name)
    if not zone_id:
        # terraform-provider-aws, route53/zone_data_source.go (SingularDataSourceFindError).
        _fails("aws:route53/getZone:getZone", "no matching Route 53 Hosted Zone found")
    return {"id": zone_id, "zoneId": zone_id, "name": name, "privateZone": False,
            "nameServers": ["ns-1.awsdns-01.org"]}  # fmt: skip


def _acm_certificate_lookup(args: dict[str, Any]) -> Any:
    domain = args.get("domain")
    _fails("aws:acm/getCertificate:getCertificate")
    # Certificates this fake account holds carry the stack's tags (the provider's default_tags).
    if domain not in ACM_ISSUED or not (args.get("tags") or {}).get("stack"):
        # terraform-provider-aws, acm/certificate_data_source.go, when tags are given.
        _fails(
            "aws:acm/getCertificate:getCertificate",
            "no ACM Certificate found matching input criteria",
        )
    return {"id": _arn("acm", f"certificate/{_hex(domain, 8)}"), "domain": domain,
            "arn": _arn("acm", f"certificate/{_hex(domain, 8)}"), "status": "ISSUED"}  # fmt: skip


def _acm_certificate(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    domain = inputs["domainName"]
    arn = _arn("acm", f"certificate/{_hex(name, 8)}-{_hex(domain, 4)}")
    return {"id": arn, "arn": arn, "status": "PENDING_VALIDATION",
            "domainValidationOptions": [{
                "domainName": domain,
                "resourceRecordName": f"_{_hex(domain, 32)}.{domain}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": f"_{_hex(name, 32)}.xlfgrmvvlj.acm-validations.aws.",
            }]}  # fmt: skip


def _route53_record(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"{inputs['zoneId']}_{inputs['name']}_{inputs['type']}",
            "fqdn": str(inputs["name"]).rstrip(".")}  # fmt: skip


def _secret(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    secret = _physical(name, inputs)
    arn = _arn("secretsmanager", f"secret:{secret}-AbCdEf")
    return {"id": arn, "arn": arn, "name": secret}


def _secret_version(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    version = f"{_hex(name, 8)}-0000-4000-8000-{_hex(name, 12)}"
    return {"id": f"{inputs['secretId']}|{version}", "versionId": version,
            "arn": inputs["secretId"]}  # fmt: skip


def _web_acl(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    acl = _physical(name, inputs)
    acl_id = f"{_hex(name, 8)}-aaaa-bbbb-cccc-{_hex(name, 12)}"
    return {"id": acl_id, "name": acl,
            "arn": _arn("wafv2", f"regional/webacl/{acl}/{acl_id}")}  # fmt: skip


AWS_OUTPUTS.update(
    {
        "aws:acm/certificate:Certificate": _acm_certificate,
        "aws:route53/record:Record": _route53_record,
        "aws:secretsmanager/secret:Secret": _secret,
        "aws:secretsmanager/secretVersion:SecretVersion": _secret_version,
        "aws:wafv2/webAcl:WebAcl": _web_acl,
    }
)

# Data sources only a stack with `domain` reads (a plain stack invokes AWS_CALLS alone).
AWS_EDGE_CALLS: dict[str, CallResult] = {
    "aws:route53/getZone:getZone": _route53_zone,
    "aws:acm/getCertificate:getCertificate": _acm_certificate_lookup,
}

AWS_CALLS: dict[str, CallResult] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _availability_zones,
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": _authorization_token,
    "aws:index/getCallerIdentity:getCallerIdentity": _caller_identity,
    "aws:ecs/getService:getService": _get_ecs_service,
}

# --- gcp target -------------------------------------------------------------------------------
GCP_REGION = "us-central1"
GCP_PROJECT_NUMBER = "987654321098"
GCP_ACCESS_TOKEN = "ya29.fake-access-token"
GCP_CLUSTER_ENDPOINT = "34.30.0.10"
# base64 of a PEM block, as GKE returns masterAuth.clusterCaCertificate.
GCP_CLUSTER_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmZha2UgY2x1c3RlciBDQQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="
# What the LoadBalancer Service's status reports; GKE gives an ip, other clouds a hostname. Tests
# monkeypatch it to see both.
GCP_LB_INGRESS: dict[str, str] = {"ip": "34.120.0.10"}


def _gcp_autoname(name: str, inputs: dict[str, Any]) -> str:
    return inputs.get("name") or f"{name}-1a2b3c4"


def _gke_cluster(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    cluster = _gcp_autoname(name, inputs)
    location = inputs.get("location", GCP_REGION)
    return {
        "id": f"projects/{GCP_PROJECT}/locations/{location}/clusters/{cluster}",
        "name": cluster,
        "endpoint": GCP_CLUSTER_ENDPOINT,
        "masterAuth": {"clusterCaCertificate": GCP_CLUSTER_CA},
        "project": GCP_PROJECT,
    }


def _gke_node_pool(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {"name": _gcp_autoname(name, inputs), "project": GCP_PROJECT}


def _ar_repository(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    location = inputs.get("location", GCP_REGION)
    return {
        "name": f"projects/{GCP_PROJECT}/locations/{location}/repositories/{inputs['repositoryId']}",
        "project": GCP_PROJECT,
    }


def _k8s_service(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    if (inputs.get("spec") or {}).get("type") != "LoadBalancer":
        return {}
    return {"status": {"loadBalancer": {"ingress": [dict(GCP_LB_INGRESS)]}}}


def _service_account(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    email = f"{inputs['accountId']}@{GCP_PROJECT}.iam.gserviceaccount.com"
    return {"id": f"projects/{GCP_PROJECT}/serviceAccounts/{email}", "email": email,
            "member": f"serviceAccount:{email}", "name": f"projects/{GCP_PROJECT}/serviceAccounts/{email}",
            "uniqueId": "100000000000000000002", "project": GCP_PROJECT}  # fmt: skip


def _notification_channel(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    channel = f"projects/{GCP_PROJECT}/notificationChannels/{int(_hex(name, 12), 16)}"
    return {"id": channel, "name": channel, "project": GCP_PROJECT}


def _uptime_check(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # Cloud Monitoring ids a check after its display name, with a random suffix.
    check_id = f"{inputs['displayName'].lower().replace(' ', '-')}-{_hex(name, 10)}"
    config = f"projects/{GCP_PROJECT}/uptimeCheckConfigs/{check_id}"
    return {"id": config, "name": config, "uptimeCheckId": check_id, "project": GCP_PROJECT}


GCP_OUTPUTS: dict[str, Outputs] = {
    "gcp:serviceaccount/account:Account": _service_account,
    "gcp:container/cluster:Cluster": _gke_cluster,
    "gcp:container/nodePool:NodePool": _gke_node_pool,
    "gcp:artifactregistry/repository:Repository": _ar_repository,
    "kubernetes:core/v1:Service": _k8s_service,
    "gcp:monitoring/notificationChannel:NotificationChannel": _notification_channel,
    "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig": _uptime_check,
}
GCP_STATIC_IP = "34.149.0.20"


def _gcp_named(extra: dict[str, Any] | None = None) -> Outputs:
    def outputs(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        named = _gcp_autoname(name, inputs)
        return {"name": named, "selfLink": f"https://compute.googleapis.com/compute/v1/projects/"
                f"{GCP_PROJECT}/global/x/{named}", **(extra or {})}  # fmt: skip

    return outputs


def _k8s_autonamed(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # pulumi-kubernetes names an object without metadata.name `<name>-<random>`.
    metadata = dict(inputs.get("metadata") or {})
    metadata.setdefault("name", f"{name}-5f3a9c1e")
    return {"metadata": metadata}


GCP_OUTPUTS.update(
    {
        "gcp:compute/globalAddress:GlobalAddress": _gcp_named({"address": GCP_STATIC_IP}),
        "gcp:compute/securityPolicy:SecurityPolicy": _gcp_named(),
        "gcp:compute/sSLPolicy:SSLPolicy": _gcp_named(),
        "kubernetes:core/v1:Secret": _k8s_autonamed,
    }
)

GCP_CALLS: dict[str, CallResult] = {
    # modelUri on gcp: the Workload Identity principal names the project by number.
    "gcp:organizations/getProject:getProject": lambda args: {
        "projectId": args.get("projectId", GCP_PROJECT),
        "number": GCP_PROJECT_NUMBER,
        "name": args.get("projectId", GCP_PROJECT),
        "id": f"projects/{args.get('projectId', GCP_PROJECT)}",
        "effectiveLabels": {},
        "pulumiLabels": {},
        "labels": {},
    },
    "gcp:organizations/getClientConfig:getClientConfig": lambda args: {
        "accessToken": GCP_ACCESS_TOKEN,
        "project": GCP_PROJECT,
        "region": GCP_REGION,
        "zone": "",
        "id": f"projects/{GCP_PROJECT}/regions/{GCP_REGION}/zones/",
        "defaultLabels": {},
    },
}

# --- local target -----------------------------------------------------------------------------
# The ID the local engine gives the built image (`docker image inspect --format {{.Id}}`).
LOCAL_IMAGE_ID = "sha256:" + "5e" * 32
LOCAL_CONTAINER_ID = "c0" * 32


def _docker_image(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # The provider's ID is the image name; a local-only build reports its ID as repoDigest.
    build = inputs.get("build") or {}
    return {
        "id": inputs["imageName"],
        "baseImageName": inputs["imageName"],
        "registryServer": "",
        "repoDigest": LOCAL_IMAGE_ID if inputs.get("skipPush") else "",
        "context": build.get("context", "."),
        "dockerfile": "Dockerfile",
        "platform": build.get("platform"),
    }


def _docker_remote_image(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # The provider's ID is the image ID followed by the name it was looked up by.
    return {"id": f"{LOCAL_IMAGE_ID}{inputs['name']}", "imageId": LOCAL_IMAGE_ID, "repoDigest": ""}


def _docker_container(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": LOCAL_CONTAINER_ID,
        "exitCode": None,
        "networkDatas": [{"ipAddress": "172.17.0.2"}],
    }


LOCAL_OUTPUTS: dict[str, Outputs] = {
    "docker:index/image:Image": _docker_image,
    "docker:index/remoteImage:RemoteImage": _docker_remote_image,
    "docker:index/container:Container": _docker_container,
}
LOCAL_CALLS: dict[str, CallResult] = {}

FAKE_OUTPUTS: dict[str, Outputs] = {**COMMON_OUTPUTS, **AWS_OUTPUTS, **GCP_OUTPUTS, **LOCAL_OUTPUTS}
FAKE_CALLS: dict[str, CallResult] = {**AWS_CALLS, **AWS_EDGE_CALLS, **GCP_CALLS, **LOCAL_CALLS}
