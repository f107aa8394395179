"""The rules echo-service keeps, one CrossGuard policy each, over the inputs a resource sends.

Each rule is a pure function `(resource_type, props, config) -> [problem, ...]` over the
resource's inputs as the engine sends them (camelCase names; an ECS task definition's
`containerDefinitions` as its JSON string); `POLICIES` wraps each in a mandatory
`ResourceValidationPolicy` that reports every problem against the resource. The tests call the
same wrappers with the inputs of every rendered stack (tests/policy/test_policy.py).

A policy sees secret inputs unwrapped, as plain values: the secrets rule is therefore about
where a value travels (a secret store, a `secrets`/`secretKeyRef` reference), not about whether
Pulumi marked it secret.

Policy config (`--policy-pack-config`, written by `python -m policy.stack_config STACK`):
`metrics-never-public.metricsPort` (the stack's `metricsPort`, default 9090) and
`deletion-protection.deletionProtection` (the stack's `deletionProtection`, default false).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

Rule = Callable[[str, Mapping[str, Any], Mapping[str, Any]], list[str]]

METRICS_PORT_DEFAULT = 9090  # Pulumi.yaml's metricsPort default
METRICS_PORT_NAME = "metrics"  # the container port's name on Kubernetes (infra.observability)

TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
DOCKER_CONTAINER = "docker:index/container:Container"
K8S_SERVICE = "kubernetes:core/v1:Service"
K8S_INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
# Kubernetes kinds whose pod template is spec.template.spec (a Pod's own spec is spec).
K8S_WORKLOADS = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
}


def _pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = props.get("spec") or {}
    if resource_type == "kubernetes:core/v1:Pod":
        return spec
    if resource_type in K8S_WORKLOADS:
        return (spec.get("template") or {}).get("spec") or {}
    return None


def _containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def _container_definitions(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = props.get("containerDefinitions")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []  # unknown during a preview, or not JSON: ECS itself refuses the latter
    return [c for c in raw or [] if isinstance(c, Mapping)]


def _number(value: Any) -> int | None:
    """A port as the engine sends it (80.0) or as Kubernetes allows it ("80"); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


# --- No plaintext secret in any input ----------------------------------------------------------

# Environment variable names that hold credentials: API_KEYS (the app's), *_TOKEN, *_SECRET*,
# *PASSWORD*, *_API_KEY, *ACCESS_KEY*, *CREDENTIALS*, *PRIVATE_KEY*.
SECRET_NAME = re.compile(
    r"(?i)(^|_)(api_?keys?|[a-z]*token|secret|[a-z]*password|passwd|private_?key|access_?key"
    r"|credentials?)($|_)"
)
# Values that are credentials whatever they are called (the issuers' documented prefixes).
SECRET_VALUE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\b(AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\b(ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{40,}"  # GitHub
    r"|\bhf_[A-Za-z0-9]{30,}\b"  # Hugging Face
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
    r"|\bsk-[A-Za-z0-9_-]{32,}"  # OpenAI-style API keys
)
# Where a secret belongs: the secret stores, whose values Pulumi keeps encrypted.
SECRET_STORES = {
    "aws:secretsmanager/secretVersion:SecretVersion",
    "aws:ssm/parameter:Parameter",
    "gcp:secretmanager/secretVersion:SecretVersion",
    "kubernetes:core/v1:Secret",
}
# The local Docker engine has no secret store: the one credential the program hands a local
# container is API_KEYS, from `apiKeys` (set with --secret, so Pulumi keeps it encrypted in the
# state). Any other credential-like name there came in plain through `env`.
LOCAL_SECRET_ENV = {"API_KEYS"}


def no_plaintext_secret(resource_type: str, props: Mapping[str, Any], _config: Mapping) -> list:
    if resource_type in SECRET_STORES:
        return []
    problems = [
        f"{path} holds what looks like a credential: keep it in the secret store "
        "(pulumi config set --secret)"
        for path, value in _strings(props)
        if SECRET_VALUE.search(value)
    ]
    if resource_type == TASK_DEFINITION:
        for c in _container_definitions(props):
            for env in c.get("environment") or []:
                if SECRET_NAME.search(str(env.get("name", ""))):
                    problems.append(
                        f"container {c.get('name')}: environment {env.get('name')} is plaintext; "
                        "pass it in `secrets` (valueFrom a Secrets Manager ARN)"
                    )
    pod = _pod_spec(resource_type, props)
    if pod is not None:
        for c in _containers(pod):
            for env in c.get("env") or []:
                if SECRET_NAME.search(str(env.get("name", ""))) and "value" in env:
                    problems.append(
                        f"container {c.get('name')}: env {env.get('name')} has a plain value; "
                        "use valueFrom.secretKeyRef"
                    )
    if resource_type == DOCKER_CONTAINER:
        for env in props.get("envs") or []:
            name = str(env).split("=", 1)[0]
            if SECRET_NAME.search(name) and name not in LOCAL_SECRET_ENV:
                problems.append(f"envs {name} is plaintext; only API_KEYS (from apiKeys) may")
    return problems


# --- Metrics never behind the public load balancer ----------------------------------------------


def metrics_never_public(resource_type: str, props: Mapping[str, Any], config: Mapping) -> list:
    port = int(config.get("metricsPort", METRICS_PORT_DEFAULT))
    is_metrics = {port, str(port), METRICS_PORT_NAME}
    problems: list[str] = []
    if resource_type == "aws:lb/targetGroup:TargetGroup" and _number(props.get("port")) == port:
        problems.append(f"the target group sends traffic to the metrics port {port}")
    if resource_type == "aws:ecs/service:Service":
        for lb in props.get("loadBalancers") or []:
            if _number(lb.get("containerPort")) == port:
                problems.append(f"the load balancer reaches container port {port} (metrics)")
    if resource_type == K8S_SERVICE:
        spec = props.get("spec") or {}
        if spec.get("type") in ("LoadBalancer", "NodePort"):
            for p in spec.get("ports") or []:
                target = p.get("targetPort")
                target = _number(target) if _number(target) is not None else target
                if target in is_metrics or p.get("name") == METRICS_PORT_NAME:
                    problems.append(f"the {spec['type']} Service exposes the metrics port")
    if resource_type == K8S_INGRESS:
        spec = props.get("spec") or {}
        backends = [spec.get("defaultBackend") or {}]
        for rule in spec.get("rules") or []:
            backends += [
                p.get("backend") or {} for p in (rule.get("http") or {}).get("paths") or []
            ]
        for backend in backends:
            svc_port = (backend.get("service") or {}).get("port") or {}
            if _number(svc_port.get("number")) == port or svc_port.get("name") == METRICS_PORT_NAME:
                problems.append("the Ingress routes to the metrics port")
    if resource_type == DOCKER_CONTAINER:
        for p in props.get("ports") or []:
            if _number(p.get("internal")) == port and p.get("ip") != "127.0.0.1":
                problems.append(f"the metrics port {port} is published beyond loopback")
    return problems


# --- Non-root, read-only root filesystem --------------------------------------------------------


def _is_root(user: Any) -> bool:
    return str(user).split(":")[0] in ("", "0", "root")


def non_root_read_only(resource_type: str, props: Mapping[str, Any], _config: Mapping) -> list:
    problems: list[str] = []
    if resource_type == TASK_DEFINITION:
        for c in _container_definitions(props):
            # A non-essential container runs to completion before the app starts (the model
            # fetch); the serving containers are the ones the rule is about.
            if c.get("essential") is False:
                continue
            if c.get("readonlyRootFilesystem") is not True:
                problems.append(f"container {c.get('name')}: readonlyRootFilesystem is not true")
            if _is_root(c.get("user", "")):
                problems.append(f"container {c.get('name')}: `user` is unset or root")
    pod = _pod_spec(resource_type, props)
    if pod is not None:
        pod_ctx = pod.get("securityContext") or {}
        for c in _containers(pod):
            ctx = c.get("securityContext") or {}
            non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
            uid = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
            if non_root is not True or (uid is not None and _number(uid) == 0):
                problems.append(f"container {c.get('name')}: runAsNonRoot is not true")
            if ctx.get("readOnlyRootFilesystem") is not True:
                problems.append(f"container {c.get('name')}: readOnlyRootFilesystem is not true")
    if resource_type == DOCKER_CONTAINER:
        if props.get("readOnly") is not True:
            problems.append("read_only is not true")
        if _is_root(props.get("user", "")):
            problems.append("`user` is unset or root")
    return problems


# --- Least-privilege IAM -------------------------------------------------------------------------

# AWS managed policies far beyond what an endpoint needs.
BROAD_AWS_POLICIES = re.compile(
    r"arn:aws:iam::aws:policy/(AdministratorAccess|PowerUserAccess|IAMFullAccess)$"
)
# Roles that give a member the whole project (and the right to change its IAM).
BROAD_GCP_ROLES = {"roles/owner", "roles/editor", "roles/resourcemanager.projectIamAdmin"}
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
# Actions that take no resource-level permission, so `Resource: "*"` is all they accept (IAM's
# service authorization reference: "Resource types" is empty for them).
STAR_RESOURCE_ACTIONS = {
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "sts:GetCallerIdentity",
    "ec2:DescribeAvailabilityZones",
}
AWS_POLICY_INPUTS = {
    "aws:iam/policy:Policy": "policy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _policy_document_problems(raw: Any, what: str) -> list[str]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []  # unknown during a preview; IAM refuses one that is not JSON
    if not isinstance(raw, Mapping):
        return []
    problems: list[str] = []
    for st in _as_list(raw.get("Statement") or []):
        if not isinstance(st, Mapping) or st.get("Effect") != "Allow":
            continue
        if "NotAction" in st or "NotResource" in st:
            problems.append(f"{what}: an Allow with NotAction/NotResource grants nearly everything")
        actions = [str(a) for a in _as_list(st.get("Action", []))]
        wild = [a for a in actions if a == "*" or a.endswith(":*")]
        if wild:
            problems.append(f"{what}: wildcard action {wild}")
        if "*" in _as_list(st.get("Resource", [])):
            broad = [a for a in actions if a not in STAR_RESOURCE_ACTIONS]
            if broad:
                problems.append(f'{what}: Resource "*" for {broad}')
    return problems


def least_privilege_iam(resource_type: str, props: Mapping[str, Any], _config: Mapping) -> list:
    problems: list[str] = []
    if resource_type in AWS_POLICY_INPUTS:
        problems += _policy_document_problems(props.get(AWS_POLICY_INPUTS[resource_type]), "policy")
    if resource_type == "aws:iam/role:Role":
        for inline in props.get("inlinePolicies") or []:
            problems += _policy_document_problems(inline.get("policy"), "inline policy")
        for st in _as_list((_json(props.get("assumeRolePolicy")) or {}).get("Statement") or []):
            principal = st.get("Principal") if isinstance(st, Mapping) else None
            aws = principal.get("AWS") if isinstance(principal, Mapping) else principal
            if "*" in _as_list(aws) and not st.get("Condition"):
                problems.append("the trust policy lets anyone assume the role")
        arns = props.get("managedPolicyArns") or []
    else:
        arns = [props.get("policyArn")] if "policyArn" in props else []
    problems += [f"attaches {arn}" for arn in arns if BROAD_AWS_POLICIES.match(str(arn))]
    if resource_type.startswith("gcp:") and re.search(r"(?i)iam(member|binding)$", resource_type):
        if props.get("role") in BROAD_GCP_ROLES:
            problems.append(f"grants {props['role']}")
        members = [props.get("member"), *(props.get("members") or [])]
        problems += [f"grants {props.get('role')} to {m}" for m in members if m in PUBLIC_MEMBERS]
    return problems


def _json(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return None
    return raw


# --- TLS 1.2 or later ----------------------------------------------------------------------------

# ELB security policies whose lowest protocol is TLS 1.2 or 1.3 ("Security policies for your
# Application Load Balancer"): ELBSecurityPolicy-TLS13-1-2-*, -TLS13-1-3-*, -TLS-1-2-*, -FS-1-2-*.
# Without `sslPolicy` an HTTPS listener gets ELBSecurityPolicy-2016-08, which takes TLS 1.0.
TLS12_ELB_POLICY = re.compile(r"^ELBSecurityPolicy-(TLS13-1-[23]|TLS-1-2|FS-1-2)-")
TLS12_GCP = {"TLS_1_2", "TLS_1_3"}


def tls12(resource_type: str, props: Mapping[str, Any], _config: Mapping) -> list:
    protocol = props.get("protocol")
    policy = props.get("sslPolicy")
    if (
        resource_type == "aws:lb/listener:Listener"
        and protocol in ("HTTPS", "TLS")
        and not TLS12_ELB_POLICY.match(str(policy or ""))
    ):
        return [f"the {protocol} listener's ssl_policy {policy!r} allows TLS < 1.2"]
    minimum = props.get("minTlsVersion")
    if resource_type == "gcp:compute/sSLPolicy:SSLPolicy" and minimum not in TLS12_GCP:
        return [f"min_tls_version {minimum!r} is below TLS 1.2"]
    if resource_type == "kubernetes:networking.gke.io/v1beta1:FrontendConfig" and not (
        props.get("spec") or {}
    ).get("sslPolicy"):
        return ["the FrontendConfig names no sslPolicy (GCP's default takes TLS 1.0)"]
    return []


# --- Deletion protection where the stack asks for it ---------------------------------------------


def deletion_protection(resource_type: str, props: Mapping[str, Any], config: Mapping) -> list:
    if not config.get("deletionProtection", False):
        return []
    if (
        resource_type == "aws:lb/loadBalancer:LoadBalancer"
        and props.get("enableDeletionProtection") is not True
    ):
        return ["the stack asks for deletion protection: enable_deletion_protection is not true"]
    # GKE's own default is on: only an explicit false turns it off.
    if (
        resource_type == "gcp:container/cluster:Cluster"
        and props.get("deletionProtection") is False
    ):
        return ["the stack asks for deletion protection: deletion_protection is false"]
    return []


# --- The policies ---------------------------------------------------------------------------------

RULES: dict[str, tuple[Rule, str, PolicyConfigSchema | None]] = {
    "no-plaintext-secret": (
        no_plaintext_secret,
        "No plaintext secret in any input: credentials reach containers from a secret store.",
        None,
    ),
    "metrics-never-public": (
        metrics_never_public,
        "The metrics port is never behind the public load balancer.",
        PolicyConfigSchema(
            properties={"metricsPort": {"type": "integer", "default": METRICS_PORT_DEFAULT}}
        ),
    ),
    "non-root-read-only": (
        non_root_read_only,
        "Serving containers run as a non-root user with a read-only root filesystem.",
        None,
    ),
    "least-privilege-iam": (
        least_privilege_iam,
        "IAM grants no wildcard action, no needless `*` resource, no admin/owner/editor role.",
        None,
    ),
    "tls-1-2": (tls12, "HTTPS endpoints accept TLS 1.2 or later only.", None),
    "deletion-protection": (
        deletion_protection,
        "Where the stack sets deletionProtection, the load balancer and cluster carry it.",
        PolicyConfigSchema(
            properties={"deletionProtection": {"type": "boolean", "default": False}}
        ),
    ),
}


def _wrap(
    policy_name: str, rule: Rule
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for problem in rule(args.resource_type, args.props, args.get_config()):
            report_violation(f"{args.resource_type} {args.name}: {problem}", args.urn)

    validate.__name__ = f"validate_{policy_name.replace('-', '_')}"
    return validate


POLICIES = [
    ResourceValidationPolicy(
        name=name,
        description=description,
        validate=_wrap(name, rule),
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=schema,
    )
    for name, (rule, description, schema) in RULES.items()
]
