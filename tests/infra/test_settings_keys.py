"""Typos in the stack file and certificates in the wrong region are refused by name."""

from __future__ import annotations

import pulumi
import pytest

from infra.settings import load_settings
from tests.harness import stack_config


def refusal(stack: str, overrides: dict, env: dict | None = None) -> str:
    pulumi.runtime.set_all_config(stack_config(stack, overrides))
    with pytest.raises(pulumi.RunError) as caught:
        load_settings(stack=stack, env=env or {})
    return str(caught.value)


def test_a_misspelt_key_is_refused_naming_the_closest_known_one():
    message = refusal("dev", {"mimReplicas": 3})
    assert "echo-service:mimReplicas = '3': is not a setting of this project" in message
    assert "did you mean minReplicas?" in message


def test_an_unknown_key_with_no_close_match_is_refused_without_a_guess():
    message = refusal("local", {"frobnicate": "yes"})
    assert "echo-service:frobnicate" in message and "did you mean" not in message


def test_keys_of_other_namespaces_are_not_the_projects_business():
    pulumi.runtime.set_all_config(stack_config("dev", {"aws:skipMetadataApiCheck": "true"}))
    assert load_settings(stack="dev", env={}).cloud == "aws"


def test_a_certificate_from_another_region_is_refused():
    arn = "arn:aws:acm:eu-west-1:123456789012:certificate/0f0f0f0f-1111-2222-3333-444444444444"
    message = refusal("dev", {"certificateArn": arn})
    assert "echo-service:certificateArn" in message
    assert "is in eu-west-1, but the load balancer is in aws:region us-east-1" in message


def test_a_certificate_from_the_stacks_region_is_accepted():
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/0f0f0f0f-1111-2222-3333-444444444444"
    pulumi.runtime.set_all_config(stack_config("dev", {"certificateArn": arn}))
    assert load_settings(stack="dev", env={}).aws.certificate_arn == arn


def test_a_secret_under_a_misspelt_key_is_not_echoed():
    pulumi.runtime.set_all_config(
        stack_config("dev", {"mimReplicas": "hunter2"}), ["echo-service:mimReplicas"]
    )
    try:
        with pytest.raises(pulumi.RunError) as caught:
            load_settings(stack="dev", env={})
    finally:
        pulumi.runtime.set_all_config({}, [])
    message = str(caught.value)
    assert "echo-service:mimReplicas = '[secret]'" in message
    assert "hunter2" not in message
