"""The local stack's API keys: API_KEYS in the container's environment, kept a secret."""

from __future__ import annotations

from tests.harness import run_stack
from tests.infra.test_aws_edge import KEY_A, KEY_B, everywhere, is_secret

CONTAINER = "docker:index/container:Container"


def test_api_keys_reach_the_container_as_a_secret_environment_variable():
    r = run_stack("local", {"apiKeys": f"{KEY_A},{KEY_B}"})
    envs = r.one(CONTAINER).inputs["envs"]
    assert is_secret(envs), "a secret item makes the whole list a secret in the state"
    assert envs["value"] == ["PORT=8080", f"API_KEYS={KEY_A},{KEY_B}"]
    assert everywhere(r) == []


def test_without_keys_the_environment_is_as_before():
    assert run_stack("local").one(CONTAINER).inputs["envs"] == ["PORT=8080"]
