"""The request validator refuses what the AWS APIs refuse, so the tests that use it mean something."""

from __future__ import annotations

import pytest

from tests.infra.botocore_shapes import (
    assert_valid,
    conform,
    input_shape,
    java_pattern,
    member_shape,
    problems,
)

GOOD_CONTAINER = {
    "name": "app",
    "image": "repo@sha256:ab",
    "essential": True,
    "portMappings": [{"containerPort": 8080}],
}


def test_a_valid_request_has_no_problems():
    assert_valid(
        "ecs", "RegisterTaskDefinition", {"family": "f", "containerDefinitions": [GOOD_CONTAINER]}
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            {"family": "f", "containerDefinitions": [{**GOOD_CONTAINER, "healthcheck": {}}]},
            "unknown member 'healthcheck'",
        ),
        ({"containerDefinitions": [GOOD_CONTAINER]}, "missing required member 'family'"),
        (
            {"family": "f", "containerDefinitions": [{**GOOD_CONTAINER, "essential": "true"}]},
            "expected a boolean",
        ),
        (
            {
                "family": "f",
                "containerDefinitions": [
                    {**GOOD_CONTAINER, "portMappings": [{"containerPort": "8080"}]}
                ],
            },
            "expected an integer",
        ),
        (
            {"family": "f", "containerDefinitions": [{**GOOD_CONTAINER, "stopTimeout": 30.5}]},
            "expected an integer",
        ),
        ({"family": "f", "containerDefinitions": GOOD_CONTAINER}, "expected a list"),
        (
            {"family": "f", "containerDefinitions": [GOOD_CONTAINER], "networkMode": "vpc"},
            "'vpc' is not one of",
        ),
        (
            {"family": "f", "containerDefinitions": [GOOD_CONTAINER], "cpu": None},
            "null is not a value",
        ),
        (
            {
                "family": "f",
                "containerDefinitions": [
                    {
                        **GOOD_CONTAINER,
                        "logConfiguration": {"logDriver": "awslogs", "options": {"k": 1}},
                    }
                ],
            },
            "expected a string",
        ),
    ],
    ids=[
        "unknown-member",
        "missing-required",
        "bool",
        "int",
        "float-for-int",
        "list",
        "enum",
        "null",
        "map-value",
    ],
)
def test_each_kind_of_mistake_is_reported_with_its_path(request_, expected):
    found = problems(input_shape("ecs", "RegisterTaskDefinition"), request_)
    assert any(expected in p for p in found), found
    assert all(p.startswith("$") for p in found)
    with pytest.raises(AssertionError, match="RegisterTaskDefinition would reject"):
        assert_valid("ecs", "RegisterTaskDefinition", request_)


def test_ranges_and_lengths_declared_by_the_model_are_enforced():
    shape = input_shape("elbv2", "CreateTargetGroup")
    assert any(
        "below the minimum 5" in p
        for p in problems(shape, {"Name": "tg", "HealthCheckIntervalSeconds": 1})
    )
    assert any(
        "above the maximum 10" in p
        for p in problems(shape, {"Name": "tg", "HealthyThresholdCount": 11})
    )
    assert any(
        "at least 1 required" in p for p in problems(shape, {"Name": "tg", "HealthCheckPath": ""})
    )
    assert (
        problems(
            shape, {"Name": "tg", "HealthCheckIntervalSeconds": 10, "HealthyThresholdCount": 2}
        )
        == []
    )


def test_patterns_are_read_as_the_java_regular_expressions_they_are():
    # WAFv2's EntityDescription: no apostrophe (issue 17, item 2).
    shape = member_shape("wafv2", "CreateWebACL", "Description")
    assert problems(shape, "per-IP rate limit: the endpoint load balancer") == []
    assert "does not match the pattern" in problems(shape, "the endpoint's ACL")[0]
    # A Java UTF-16 surrogate pair stands for one code point beyond U+FFFF.
    xml = java_pattern(r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*")
    assert xml.fullmatch("ok \U0001f600") and not xml.fullmatch("\x00")
    assert member_shape("iam", "CreateRole", "rolename").name == "roleNameType"
    with pytest.raises(KeyError, match="no member"):
        member_shape("iam", "CreateRole", "RoleNmae")


def test_conform_spells_keys_as_the_model_does():
    shape = member_shape("wafv2", "CreateWebACL", "VisibilityConfig")
    assert conform(shape, {"cloudwatchMetricsEnabled": True, "metricName": "m"}) == {
        "CloudWatchMetricsEnabled": True, "MetricName": "m"}  # fmt: skip
    (found,) = problems(shape, conform(shape, {"metricNme": "m"}), required=False)
    assert "unknown member 'metricNme' of VisibilityConfig" in found
