"""Settings for the public edge: defaults off, keys read as secrets, warnings and refusals."""

from __future__ import annotations

import pulumi
import pytest

from infra.settings import EdgeSettings, load_settings
from tests.harness import stack_config

KEY = "a-key-of-twenty-chars"


def load(stack: str, overrides: dict, secret_keys: list[str] | None = None):
    pulumi.runtime.set_all_config(stack_config(stack, overrides), secret_keys or [])
    return load_settings(stack=stack, env={"GOOGLE_CLOUD_PROJECT": "p"})


@pytest.mark.parametrize("stack", ["dev", "gcp", "local"])
def test_the_shipped_stacks_have_the_edge_off(stack: str):
    assert load(stack, {}).edge == EdgeSettings()


def test_keys_are_a_secret_output_and_a_plain_text_key_is_warned_about(monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: warnings.append(message))
    edge = load("dev", {"apiKeys": f" {KEY} , {KEY}2 "}, ["echo-service:apiKeys"]).edge
    assert (edge.api_key_count, edge.has_api_keys) == (2, True)
    assert edge.read_api_keys is not None
    assert warnings == []
    load("dev", {"apiKeys": KEY})
    (warning,) = warnings
    assert "plain text" in warning and "--secret" in warning and KEY not in warning


def test_keys_may_be_a_json_list():
    assert load("dev", {"apiKeys": f'["{KEY}", "{KEY}2"]'}).edge.api_key_count == 2


def test_the_domain_is_lower_cased_and_its_trailing_dot_dropped():
    assert load("dev", {"domain": "Model.Example.COM."}).edge.domain == "model.example.com"


def refusal(stack: str, overrides: dict) -> str:
    with pytest.raises(pulumi.RunError) as raised:
        load(stack, overrides)
    return str(raised.value)


# ACM takes a first domain name of at most 64 characters (the certificate's CN).
LONGEST_ON_AWS = "a" * 52 + ".example.com"


def test_aws_refuses_a_domain_longer_than_acm_takes():
    assert len(LONGEST_ON_AWS) == 64
    assert load("dev", {"domain": LONGEST_ON_AWS}).edge.domain == LONGEST_ON_AWS
    longer = "a" + LONGEST_ON_AWS
    message = refusal("dev", {"domain": longer})
    assert f"echo-service:domain = '{longer}': must be at most 64 characters on aws" in message
    assert "ACM" in message and "has 65" in message


@pytest.mark.parametrize("stack", ["dev", "gcp"])
@pytest.mark.parametrize("domain", ["model.example.1com", "model.example.c", "model.1.2"])
def test_a_top_level_domain_not_starting_with_a_letter_is_refused(stack: str, domain: str):
    message = refusal(stack, {"domain": domain})
    tld = domain.rsplit(".", 1)[1]
    assert f"echo-service:domain = '{domain}': its top-level domain ('{tld}') must start" in message
    assert "ManagedCertificate" in message


@pytest.mark.parametrize("stack", ["dev", "gcp"])
def test_top_level_domains_with_digits_after_a_letter_are_kept(stack: str):
    assert load(stack, {"domain": "model.example.c0m"}).edge.domain == "model.example.c0m"
