"""Issue 19, Rollouts: `rollout`, `rolloutPercent`, `rolloutBakeMinutes` in settings and on aws.

Under mocks: what the program registers for ECS's native canary and linear deployments (the
service's deploymentConfiguration and the load balancer's advancedConfiguration, the alternate
target group, the production listener rule, the role ECS assumes, the alarms on each target
group, the order the service waits for), checked against botocore's ecs and elbv2 models.
What the mocks cannot show (ECS shifting the weights, the provider's waiter) is read from the
provider's source and described where the program relies on it (infra/aws/service.py,
infra/aws/edge.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.aws.alarms import DATAPOINTS_TO_ALARM
from infra.settings import MIN_BAKE_MINUTES, Rollout
from tests.harness import Rendered, Res
from tests.harness import plain as ints
from tests.infra.botocore_shapes import assert_valid
from tests.infra.test_aws import (
    ATTACHMENT,
    CERT,
    LISTENER,
    ROLE,
    SERVICE,
    TG,
    create_service_request,
    named,
    render,
)
from tests.infra.test_settings import load, refusal

RULE = "aws:lb/listenerRule:ListenerRule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ON = {"monitoring": True}
CANARY = {**ON, "rollout": "canary"}
LINEAR = {**ON, "rollout": "linear", "rolloutPercent": 20, "rolloutBakeMinutes": 4}
LB_POLICY = "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"


def service(r: Rendered) -> dict[str, Any]:
    return ints(r.one(SERVICE).inputs)


def alternate(r: Rendered) -> Res:
    return named(r, TG, "echo-service-tg-alt")


def primary(r: Rendered) -> Res:
    return named(r, TG, "echo-service-tg")


# --- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "gcp", "local"])
def test_every_shipped_stack_rolls(stack):
    assert load(stack, env={"GOOGLE_CLOUD_PROJECT": "p"}).rollout_plan == Rollout()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (CANARY, Rollout("canary", 5, 5)),
        ({**ON, "rollout": "linear"}, Rollout("linear", 10, 5)),
        ({**CANARY, "rolloutPercent": 10, "rolloutBakeMinutes": 15}, Rollout("canary", 10, 15)),
        (LINEAR, Rollout("linear", 20, 4)),
    ],
)
def test_the_keys_are_read_and_0_is_ecs_default_share(overrides, expected):
    assert load("dev", overrides).rollout_plan == expected


@pytest.mark.parametrize(
    ("stack", "overrides", "expected"),
    [
        ("dev", {**ON, "rollout": "bluegreen"}, "rollout = 'bluegreen': must be one of rolling"),
        ("dev", {**CANARY, "rolloutPercent": 101}, "rolloutPercent = 101: with rollout canary"),
        ("dev", {**LINEAR, "rolloutPercent": 2}, "a whole percent from 3 to 100"),
        ("dev", {**CANARY, "rolloutBakeMinutes": 2}, "rolloutBakeMinutes = 2: must be from 3"),
        ("dev", {**CANARY, "rolloutBakeMinutes": 1441}, "3 to 1440 minutes"),
        # 34 steps of 3% baking an hour each: 34 hours of `pulumi up`.
        (
            "dev",
            {**LINEAR, "rolloutPercent": 3, "rolloutBakeMinutes": 60},
            "would bake 2040 minutes in all",
        ),
        ("dev", {"rollout": "canary"}, "rollout = 'canary': needs monitoring = true"),
        ("dev", {**CANARY, "rollbackOnAlarm": False}, "needs rollbackOnAlarm = true"),
        # ALBRequestCountPerTarget follows one target group; ECS moves the traffic to the other.
        (
            "dev",
            {**LINEAR, "requestsPerReplica": 600},
            "requestsPerReplica = 600: cannot be used with rollout linear",
        ),
        ("dev", {"rolloutPercent": 10}, "rolloutPercent = 10: is read only with rollout canary"),
        ("dev", {"rolloutBakeMinutes": 9}, "rolloutBakeMinutes = 9: is read only with rollout"),
        ("gcp", {"rollout": "canary"}, "rollout = 'canary': is not available on gcp yet"),
        ("local", {"rollout": "linear"}, "rollout = 'linear': is not available on local yet"),
    ],
)
def test_a_rollout_the_target_cannot_do_is_refused_with_the_reason(stack, overrides, expected):
    message = refusal(stack, overrides, env={"GOOGLE_CLOUD_PROJECT": "p"})
    assert expected in message


def test_the_shortest_bake_lets_a_deployment_alarm_fire():
    assert MIN_BAKE_MINUTES == DATAPOINTS_TO_ALARM


# --- rolling: exactly as before ------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{}, ON, {**ON, "certificateArn": CERT}])
def test_rolling_sends_ecs_rolling_and_makes_nothing_new(overrides):
    # ROLLING explicitly: the provider keeps a removed strategy block as ECS has it, so a stack
    # going back from canary must say ROLLING, or it would stay canary.
    r = render(overrides)
    inputs = service(r)
    assert inputs["deploymentConfiguration"] == {"strategy": "ROLLING"}
    assert set(inputs["loadBalancers"][0]) == {"targetGroupArn", "containerName", "containerPort"}
    assert len(r.of_type(TG)) == 1 and not r.of_type(RULE)
    assert all(res.name != "echo-service-ecs-lb" for res in r.of_type(ROLE))
    assert r.one(SERVICE).custom_timeouts == {"create": "40m", "update": "40m"}


# --- canary and linear on ECS ------------------------------------------------------------------


def test_canary_sends_ecs_canary_with_the_share_and_the_bake():
    assert service(render(CANARY))["deploymentConfiguration"] == {
        "strategy": "CANARY",
        "bakeTimeInMinutes": "5",
        "canaryConfiguration": {"canaryPercent": 5, "canaryBakeTimeInMinutes": "5"},
    }


def test_linear_sends_ecs_linear_with_the_step_and_the_bake():
    assert service(render(LINEAR))["deploymentConfiguration"] == {
        "strategy": "LINEAR",
        "bakeTimeInMinutes": "4",
        "linearConfiguration": {"stepPercent": 20, "stepBakeTimeInMinutes": "4"},
    }


@pytest.mark.parametrize(
    ("overrides", "minutes"),
    # canary: its bake and the final one; linear at 20%: five steps, a bake after each of the
    # first four and the final one.
    [(CANARY, 40 + 2 * 5), (LINEAR, 40 + 5 * 4)],
)
def test_pulumi_up_waits_for_every_bake_on_top_of_the_rollback_budget(overrides, minutes):
    res = render(overrides).one(SERVICE)
    assert res.custom_timeouts == {"create": f"{minutes}m", "update": f"{minutes}m"}
    assert res.inputs["waitForSteadyState"] is True


@pytest.mark.parametrize("overrides", [CANARY, LINEAR])
def test_the_service_names_both_target_groups_the_rule_and_the_role(overrides):
    r = render(overrides)
    (balancer,) = service(r)["loadBalancers"]
    role = named(r, ROLE, "echo-service-ecs-lb")
    assert balancer["targetGroupArn"] == primary(r).outputs["arn"]
    assert balancer["advancedConfiguration"] == {
        "alternateTargetGroupArn": alternate(r).outputs["arn"],
        "productionListenerRule": r.one(RULE).outputs["arn"],
        "roleArn": role.outputs["arn"],
    }


def test_the_alternate_target_group_is_a_twin_of_the_first():
    r = render(CANARY)
    assert ints(alternate(r).inputs) == ints(primary(r).inputs)


@pytest.mark.parametrize(
    ("overrides", "port"), [(CANARY, 80), ({**CANARY, "certificateArn": CERT}, 443)]
)
def test_the_production_rule_routes_every_path_of_the_listener_users_reach(overrides, port):
    r = render(overrides)
    rule = r.one(RULE)
    (users_listener,) = [res for res in r.of_type(LISTENER) if ints(res.inputs)["port"] == port]
    inputs = ints(rule.inputs)
    assert inputs["listenerArn"] == users_listener.outputs["arn"]
    assert inputs["priority"] == 1
    assert inputs["conditions"] == [{"pathPattern": {"values": ["/*"]}}]
    assert inputs["actions"] == [
        {
            "type": "forward",
            "forward": {
                "targetGroups": [
                    {"arn": primary(r).outputs["arn"], "weight": 100},
                    {"arn": alternate(r).outputs["arn"], "weight": 0},
                ]
            },
        }
    ]
    # ECS owns the weights after the first deploy; a refresh must not put them back.
    assert rule.ignore_changes == ["actions"]


def test_ecs_assumes_a_role_with_the_managed_load_balancer_policy():
    r = render(CANARY)
    role = named(r, ROLE, "echo-service-ecs-lb")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ecs.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    attachment = named(r, ATTACHMENT, "echo-service-ecs-lb")
    assert attachment.inputs == {"role": role.outputs["name"], "policyArn": LB_POLICY}


def test_the_service_waits_for_the_rule_and_the_role_policy():
    r = render(CANARY)
    after = set(r.one(SERVICE).dependencies)
    assert r.one(RULE).urn in after
    assert named(r, ATTACHMENT, "echo-service-ecs-lb").urn in after


def test_the_alarms_of_both_target_groups_gate_each_step():
    r = render(CANARY)
    alarms = {res.name: res for res in r.of_type(ALARM)}
    watched = service(r)["alarms"]
    assert watched["enable"] is True and watched["rollback"] is True
    gate = {
        "echo-service-5xx-rate",
        "echo-service-p99-latency",
        "echo-service-alt-5xx-rate",
        "echo-service-alt-p99-latency",
    }
    assert set(watched["alarmNames"]) == {alarms[n].outputs["name"] for n in gate}
    # Each pair reads its own target group: the new version is in whichever had no traffic.
    for prefix, group in (("echo-service", primary(r)), ("echo-service-alt", alternate(r))):
        latency = alarms[f"{prefix}-p99-latency"].inputs
        assert latency["dimensions"]["TargetGroup"] == group.outputs["arnSuffix"]
        queries = alarms[f"{prefix}-5xx-rate"].inputs["metricQueries"]
        dims = [q["metric"]["dimensions"]["TargetGroup"] for q in queries if "metric" in q]
        assert dims == [group.outputs["arnSuffix"]] * 2


def test_the_healthy_targets_alarm_counts_both_target_groups():
    # ECS moves the tasks to the other group every deploy: counting one group would alarm
    # "fewer healthy targets than minReplicas" after every other deploy, for a healthy service.
    r = render(CANARY)
    healthy = ints(named(r, ALARM, "echo-service-healthy-targets").inputs)
    assert "metricName" not in healthy
    queries = {q["id"]: q for q in healthy["metricQueries"]}
    assert queries["healthy"]["expression"] == "FILL(primary, 0) + FILL(alternate, 0)"
    assert queries["healthy"]["returnData"] is True
    for query_id, group in (("primary", primary(r)), ("alternate", alternate(r))):
        metric = queries[query_id]["metric"]
        assert (metric["metricName"], metric["stat"]) == ("HealthyHostCount", "Minimum")
        assert metric["dimensions"]["TargetGroup"] == group.outputs["arnSuffix"]
    assert (healthy["comparisonOperator"], healthy["threshold"]) == ("LessThanThreshold", 2)


@pytest.mark.parametrize(
    "overrides", [CANARY, LINEAR, {**LINEAR, "certificateArn": CERT, "alertEmail": "o@x.io"}]
)
def test_service_with_a_strategy_is_a_valid_ecs_create_service_request(overrides):
    assert_valid("ecs", "CreateService", create_service_request(render(overrides)))


def test_the_rule_is_a_valid_elbv2_create_rule_request():
    inputs = ints(render(CANARY).one(RULE).inputs)
    forward = inputs["actions"][0]["forward"]
    request = {
        "ListenerArn": inputs["listenerArn"],
        "Priority": inputs["priority"],
        "Conditions": [
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}},
        ],
        "Actions": [
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": g["arn"], "Weight": g["weight"]}
                        for g in forward["targetGroups"]
                    ]
                },
            }
        ],
    }
    assert inputs["conditions"] == [{"pathPattern": {"values": ["/*"]}}]
    assert_valid("elbv2", "CreateRule", request)
