"""The policy pack (policy/) against every rendered stack, without the Pulumi CLI.

Every shipped stack and every every-key stack of the rules test is rendered under mocks; each
recorded resource goes through each policy's own `validate` (the function the CLI's analyzer
calls) with the policy config `python -m policy.stack_config` writes for that stack. Each policy
passes on all of them, and reports a violation naming the resource when one rendered resource is
changed to break it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.deserialize import deserialize_properties

from policy.rules import POLICIES, RULES
from policy.stack_config import policy_config
from tests.harness import Rendered, Res
from tests.infra.test_cloud_rules import CASES, is_component, render

POLICY = {p.name: p for p in POLICIES}


@cache
def rendered(case: str) -> Rendered:
    return render(case)


def config_for(case: str) -> dict[str, Any]:
    stack, overrides, _ = CASES[case]
    return policy_config(stack, overrides)


def violations(policy_name: str, res: Res, config: dict[str, Any]) -> list[tuple[str, str]]:
    """What the policy reports for one resource, as (message, urn).

    The inputs go through the analyzer's own deserializer first: it unwraps secrets, so a policy
    sees a secret's value as the CLI shows it to a policy, not the engine's wrapper.
    """
    found: list[tuple[str, str]] = []
    args = ResourceValidationArgs(
        resource_type=res.type,
        props=deserialize_properties(copy.deepcopy(res.inputs)),
        urn=res.urn,
        name=res.name,
        opts=PolicyResourceOptions(
            protect=res.protect,
            ignore_changes=res.ignore_changes,
            delete_before_replace=res.delete_before_replace,
            aliases=[],
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            additional_secret_outputs=[],
            parent=res.parent,
        ),
        provider=None,
        config=config.get(policy_name, {}),
    )
    POLICY[policy_name].validate(args, lambda message, urn=None: found.append((message, urn)))
    return found


def test_the_pack_has_one_mandatory_policy_per_rule():
    assert (
        set(POLICY)
        == set(RULES)
        == {
            "no-plaintext-secret",
            "metrics-never-public",
            "non-root-read-only",
            "least-privilege-iam",
            "tls-1-2",
            "deletion-protection",
        }
    )
    assert {p.enforcement_level.value for p in POLICIES} == {"mandatory"}


@pytest.mark.parametrize("case", list(CASES))
def test_every_policy_passes_on_every_rendered_resource(case: str):
    config = config_for(case)
    found = [
        (name, message)
        for res in rendered(case).resources
        if not is_component(res)
        for name in POLICY
        for message, _ in violations(name, res, config)
    ]
    assert not found, found


def test_the_policy_config_follows_the_stack():
    assert config_for("dev") == {
        "metrics-never-public": {"metricsPort": 9090},
        "deletion-protection": {"deletionProtection": False},
    }
    assert config_for("aws-all")["deletion-protection"] == {"deletionProtection": True}
    assert policy_config("gcp", {"metricsPort": 9100})["metrics-never-public"] == {
        "metricsPort": 9100
    }


# --- Each policy fails on a rendered resource made to break it ---------------------------------


def _task_app(props: dict) -> dict:
    """The app container of a task definition, editable; the props keep the JSON string form."""
    definitions = json.loads(props["containerDefinitions"])
    props["_definitions"] = definitions
    return next(c for c in definitions if c["name"] == "app")


def _task_done(props: dict) -> None:
    props["containerDefinitions"] = json.dumps(props.pop("_definitions"))


def task(edit: Callable[[dict], None]) -> Callable[[dict], None]:
    def apply(props: dict) -> None:
        edit(_task_app(props))
        _task_done(props)

    return apply


def pod_container(edit: Callable[[dict], None]) -> Callable[[dict], None]:
    def apply(props: dict) -> None:
        edit(props["spec"]["template"]["spec"]["containers"][0])

    return apply


def set_key(key: str, value: Any) -> Callable[[dict], None]:
    def apply(props: dict) -> None:
        props[key] = value

    return apply


def iam_policy(statement: dict) -> Callable[[dict], None]:
    def apply(props: dict) -> None:
        props["policy"] = json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    return apply


BREAKS: list[tuple[str, str, str, str, Callable[[dict], None], str]] = [
    # (policy, case, resource type, resource name or "" for the first, edit, what it says)
    ("no-plaintext-secret", "aws-all", "aws:ecs/taskDefinition:TaskDefinition", "",
     task(lambda c: c["environment"].append({"name": "HF_TOKEN", "value": "x"})), "HF_TOKEN"),
    ("no-plaintext-secret", "gcp-autopilot-all", "kubernetes:apps/v1:Deployment", "",
     pod_container(lambda c: c["env"].append({"name": "API_KEYS", "value": "k"})), "secretKeyRef"),
    ("no-plaintext-secret", "local-all", "docker:index/container:Container", "",
     lambda p: p["envs"].append("OPENAI_API_KEY=k"), "OPENAI_API_KEY"),
    ("no-plaintext-secret", "dev", "aws:lb/loadBalancer:LoadBalancer", "",
     set_key("tags", {"note": "AKIA" + "ABCDEFGHIJKLMNOP"}), "tags.note"),
    ("metrics-never-public", "dev", "aws:lb/targetGroup:TargetGroup", "",
     set_key("port", 9090.0), "metrics port 9090"),
    ("metrics-never-public", "aws-all", "aws:ecs/service:Service", "",
     lambda p: p["loadBalancers"][0].update(containerPort=9090.0), "container port 9090"),
    ("metrics-never-public", "gcp", "kubernetes:core/v1:Service", "",
     lambda p: p["spec"]["ports"][0].update(targetPort="metrics"), "LoadBalancer Service"),
    ("metrics-never-public", "gcp-autopilot-all", "kubernetes:networking.k8s.io/v1:Ingress", "",
     lambda p: p["spec"]["defaultBackend"]["service"].update(port={"name": "metrics"}), "Ingress"),
    ("metrics-never-public", "local-all", "docker:index/container:Container", "",
     lambda p: [x.update(ip="0.0.0.0") for x in p["ports"]], "beyond loopback"),
    ("non-root-read-only", "aws-all", "aws:ecs/taskDefinition:TaskDefinition", "",
     task(lambda c: c.pop("user")), "`user` is unset"),
    ("non-root-read-only", "dev", "aws:ecs/taskDefinition:TaskDefinition", "",
     task(lambda c: c.update(readonlyRootFilesystem=False)), "readonlyRootFilesystem"),
    ("non-root-read-only", "gcp-standard-all", "kubernetes:apps/v1:Deployment", "",
     pod_container(lambda c: c["securityContext"].update(runAsNonRoot=False)), "runAsNonRoot"),
    ("non-root-read-only", "gcp", "kubernetes:apps/v1:Deployment", "",
     pod_container(lambda c: c["securityContext"].pop("readOnlyRootFilesystem")),
     "readOnlyRootFilesystem"),
    ("non-root-read-only", "local", "docker:index/container:Container", "",
     set_key("user", "root"), "root"),
    ("non-root-read-only", "local-all", "docker:index/container:Container", "",
     set_key("readOnly", False), "read_only"),
    ("least-privilege-iam", "aws-all", "aws:iam/rolePolicy:RolePolicy", "echo-service-read-api-keys",
     iam_policy({"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "arn:aws:x"}),
     "wildcard action"),
    ("least-privilege-iam", "aws-existing-vpc", "aws:iam/rolePolicy:RolePolicy", "",
     iam_policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}), 'Resource "*"'),
    ("least-privilege-iam", "dev", "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "",
     set_key("policyArn", "arn:aws:iam::aws:policy/AdministratorAccess"), "AdministratorAccess"),
    ("least-privilege-iam", "dev", "aws:iam/role:Role", "",
     set_key("assumeRolePolicy", json.dumps({"Statement": [
         {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})),
     "anyone"),
    ("least-privilege-iam", "gcp", "gcp:projects/iAMMember:IAMMember", "",
     set_key("role", "roles/editor"), "roles/editor"),
    ("tls-1-2", "aws-all", "aws:lb/listener:Listener", "echo-service-https",
     set_key("sslPolicy", "ELBSecurityPolicy-2016-08"), "TLS < 1.2"),
    ("tls-1-2", "aws-all", "aws:lb/listener:Listener", "echo-service-https",
     lambda p: p.pop("sslPolicy"), "None"),
    ("tls-1-2", "gcp-autopilot-all", "gcp:compute/sSLPolicy:SSLPolicy", "",
     set_key("minTlsVersion", "TLS_1_0"), "below TLS 1.2"),
    ("tls-1-2", "gcp-standard-all", "kubernetes:networking.gke.io/v1beta1:FrontendConfig", "",
     lambda p: p["spec"].pop("sslPolicy"), "no sslPolicy"),
    ("deletion-protection", "aws-all", "aws:lb/loadBalancer:LoadBalancer", "",
     set_key("enableDeletionProtection", False), "enable_deletion_protection"),
    ("deletion-protection", "gcp-autopilot-all", "gcp:container/cluster:Cluster", "",
     set_key("deletionProtection", False), "deletion_protection"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("policy_name", "case", "type_", "name", "edit", "expected"),
    BREAKS,
    ids=[f"{b[0]}:{b[1]}:{b[2].split(':')[-1]}:{b[5]}" for b in BREAKS],
)
def test_each_policy_fails_on_a_resource_made_to_break_it(
    policy_name: str, case: str, type_: str, name: str, edit, expected: str
):
    config = config_for(case)
    original = next(r for r in rendered(case).of_type(type_) if not name or r.name == name)
    assert violations(policy_name, original, config) == []
    broken = copy.deepcopy(original)
    broken.inputs = deserialize_properties(broken.inputs)  # secrets unwrapped, as a policy sees
    edit(broken.inputs)
    found = violations(policy_name, broken, config)
    assert found, f"{policy_name} let a broken {type_} through"
    assert all(urn == original.urn for _, urn in found)
    assert any(original.name in m and expected in m for m, _ in found), found


def test_deletion_protection_is_only_asked_where_the_stack_asks():
    lb = rendered("dev").one("aws:lb/loadBalancer:LoadBalancer")
    assert lb.inputs.get("enableDeletionProtection") is not True
    assert violations("deletion-protection", lb, config_for("dev")) == []
    asked = {**config_for("dev"), "deletion-protection": {"deletionProtection": True}}
    assert violations("deletion-protection", lb, asked)


def test_the_metrics_port_comes_from_the_policy_config():
    tg = copy.deepcopy(rendered("dev").one("aws:lb/targetGroup:TargetGroup"))
    port = int(tg.inputs["port"])
    assert violations("metrics-never-public", tg, config_for("dev")) == []
    moved = {"metrics-never-public": {"metricsPort": port}}
    assert violations("metrics-never-public", tg, moved)


def test_the_model_fetch_container_is_the_one_exception_to_non_root():
    """The fetch container runs to completion before the app (essential: false) on the AWS CLI
    image, writing to the task volume ECS creates root-owned: the rule is about serving ones."""
    td = rendered("aws-all").one("aws:ecs/taskDefinition:TaskDefinition")
    definitions = json.loads(td.inputs["containerDefinitions"])
    fetch = [c for c in definitions if c.get("essential") is False]
    assert fetch and "user" not in fetch[0]
    assert violations("non-root-read-only", td, config_for("aws-all")) == []
    fetch[0]["essential"] = True
    broken = copy.deepcopy(td)
    broken.inputs["containerDefinitions"] = json.dumps(definitions)
    assert violations("non-root-read-only", broken, config_for("aws-all"))


def test_the_pack_runs_on_the_pins_the_tests_use():
    """The CLI installs policy/requirements.txt into policy/venv: the same pulumi and
    pulumi-policy as the program and the tests, so what the tests pass is what runs."""
    root = Path(__file__).resolve().parents[2]
    pins = {
        line.strip()
        for name in ("requirements.txt", "requirements-dev.txt")
        for line in (root / name).read_text().splitlines()
        if line.startswith(("pulumi==", "pulumi-policy=="))
    }
    pack = {
        line.strip()
        for line in (root / "policy" / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert pack == pins and len(pins) == 2
    manifest = yaml.safe_load((root / "policy" / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    assert manifest["runtime"]["options"]["virtualenv"] == "venv"
