"""The aws target on a first real deploy and after a rollback (issue 11, items 1, 3, 4, 5, 7)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pulumi
import pytest

from infra import aws as target
from infra.aws.edge import (
    ALB_IDLE_TIMEOUT_SECONDS,
    REQUEST_TIMEOUT_SECONDS,
    SERVER_KEEPALIVE_TIMEOUT_SECONDS,
)
from tests.harness import Rendered, run_stack
from tests.infra import fakes

SERVICE = "aws:ecs/service:Service"
TASK_DEF = "aws:ecs/taskDefinition:TaskDefinition"
LB = "aws:lb/loadBalancer:LoadBalancer"
ROLE = "aws:iam/role:Role"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
GET_SERVICE = "aws:ecs/getService:getService"
PREVIOUS = f"arn:aws:ecs:us-east-1:{fakes.ACCOUNT}:task-definition/echo-service-dev:0"


def end_pending_tasks() -> None:
    """A failed run leaves registrations waiting on the failed output; end them quietly."""
    loop = asyncio.get_event_loop()
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def environment(r: Rendered) -> dict[str, str]:
    (container,) = json.loads(r.one(TASK_DEF).inputs["containerDefinitions"])
    return {e["name"]: e["value"] for e in container["environment"]}


# --- 1: a rolled-back deploy is seen live, not from the state -------------------------------
def test_the_service_is_read_back_from_ecs_after_it_is_deployed():
    r = run_stack("dev")
    service = r.one(SERVICE)
    (call,) = [c for c in r.calls if c.token == GET_SERVICE]
    assert call.args["serviceName"] == service.outputs["name"]
    assert call.args["clusterArn"] == service.inputs["cluster"]
    assert call.provider.startswith(r.one("pulumi:providers:aws").urn)
    # Made only once the service was registered (its name is an input, the service a dependency).
    assert call.registered_before > r.resources.index(service)
    assert r.outputs["service"] == service.outputs["name"]


def test_a_service_that_ecs_rolled_back_fails_the_next_up_even_when_the_state_agrees(
    monkeypatch: pytest.MonkeyPatch,
):
    # The state says the service runs the new task definition (its inputs and outputs are the
    # planned ones); ECS says it runs the previous one.
    monkeypatch.setitem(fakes.ECS_ROLLED_BACK_TO, "any", PREVIOUS)
    with pytest.raises(pulumi.RunError) as caught:
        run_stack("dev")
    end_pending_tasks()
    message = str(caught.value)
    assert f"runs {PREVIOUS}, not " in message
    assert "rolled back by the deployment circuit breaker" in message
    assert "pulumi up --refresh" in message


def test_a_preview_of_a_rolled_back_service_warns_and_does_not_fail(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setitem(fakes.ECS_ROLLED_BACK_TO, "any", PREVIOUS)
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    r = run_stack("dev", preview=True)
    assert r.one(SERVICE)
    assert any("pulumi up --refresh" in w for w in warnings)


def test_deployed_or_fail_compares_what_runs_with_what_was_registered():
    arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/echo-service-dev:7"
    assert target.deployed_or_fail("svc", arn, arn) == "svc"
    assert target.deployed_or_fail("svc", "", arn) == "svc"  # nothing known yet
    with pytest.raises(pulumi.RunError, match="logs tail"):
        target.deployed_or_fail("svc", arn[:-1] + "6", arn)


# --- 3: the service's timeouts cover a rollback ----------------------------------------------
def test_the_service_waits_long_enough_for_a_rollback():
    service = run_stack("dev").one(SERVICE)
    assert service.custom_timeouts == {"create": "40m", "update": "40m"}
    assert service.inputs["waitForSteadyState"] is True


# --- 4: tasks start only once their security group rules exist --------------------------------
@pytest.mark.parametrize("overrides", [{}, {"containerPort": 9000}])
def test_the_service_depends_on_every_security_group_rule(overrides: dict[str, Any]):
    r = run_stack("dev", overrides)
    rules = {res.urn for res in (*r.of_type(INGRESS), *r.of_type(EGRESS))}
    assert len(rules) == 4
    assert rules <= set(r.one(SERVICE).dependencies)


# --- 5: keep-alive and timeouts against the ALB's idle timeout --------------------------------
def test_the_albs_idle_timeout_is_explicit_and_between_the_servers_timeouts():
    r = run_stack("dev")
    assert r.one(LB).inputs["idleTimeout"] == ALB_IDLE_TIMEOUT_SECONDS == 60
    env = environment(r)
    assert int(env["KEEPALIVE_TIMEOUT"]) == SERVER_KEEPALIVE_TIMEOUT_SECONDS
    assert int(env["TIMEOUT"]) == REQUEST_TIMEOUT_SECONDS
    # The ALB closes idle connections before the server does (no 502 from a reused connection),
    # and a prediction times out in the server before the ALB gives up on it (no bare 504).
    assert int(env["TIMEOUT"]) < ALB_IDLE_TIMEOUT_SECONDS < int(env["KEEPALIVE_TIMEOUT"])


# --- 7: the execution role trusts only this account's tasks ------------------------------------
def test_both_roles_trust_ecs_tasks_of_this_account_only():
    r = run_stack("dev")
    roles = {res.name: json.loads(res.inputs["assumeRolePolicy"]) for res in r.of_type(ROLE)}
    assert set(roles) == {"echo-service-execution", "echo-service-task"}
    for name, policy in roles.items():
        (statement,) = policy["Statement"]
        assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}, name
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": fakes.ACCOUNT}}, (
            name
        )


def test_a_longer_timeout_raises_the_albs_idle_timeout_and_the_servers_keep_alive():
    r = run_stack("dev", {"timeoutSeconds": 120})
    env = environment(r)
    idle = r.one(LB).inputs["idleTimeout"]
    assert (int(env["TIMEOUT"]), idle, int(env["KEEPALIVE_TIMEOUT"])) == (120, 150, 165)
    assert [n for n in env if n == "TIMEOUT"] == ["TIMEOUT"]  # once, not also from the key
