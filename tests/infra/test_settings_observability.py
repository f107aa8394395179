"""Issue 14's keys in settings: monitoring, alertEmail, requestsPerReplica, metricsPort, logFormat."""

from __future__ import annotations

import dataclasses

import pytest

from infra.settings import DEFAULTS, Observability
from tests.infra.test_settings import load, refusal

KEYS = ("monitoring", "alertEmail", "requestsPerReplica", "metricsPort", "logFormat")


@pytest.mark.parametrize("stack", ["dev", "gcp", "local"])
def test_every_shipped_stack_has_them_off(stack):
    s = load(stack, env={"GOOGLE_CLOUD_PROJECT": "p"})
    assert s.observability == Observability()


def test_observability_defaults_agree_with_pulumi_yaml_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(Observability)}
    for key in KEYS:
        name = "".join("_" + c.lower() if c.isupper() else c for c in key)
        assert fields[name] == DEFAULTS[key], key


def test_the_keys_are_read():
    s = load(
        "dev",
        {
            "monitoring": True,
            "alertEmail": "ops@example.com",
            "requestsPerReplica": 600,
            "metricsPort": 9100,
            "logFormat": "json",
        },
    )
    assert s.observability == Observability(True, "ops@example.com", 600, 9100, "json")


@pytest.mark.parametrize(
    ("stack", "overrides", "expected"),
    [
        ("dev", {"monitoring": True, "alertEmail": "not-an-address"},
         "echo-service:alertEmail = 'not-an-address': must be an email address"),
        ("dev", {"alertEmail": "ops@example.com"},
         "echo-service:alertEmail = 'ops@example.com': needs monitoring = true"),
        ("dev", {"requestsPerReplica": -1},
         "echo-service:requestsPerReplica = -1: must be 0 (off) or requests a minute"),
        ("gcp", {"requestsPerReplica": 600},
         "echo-service:requestsPerReplica = 600: is aws only"),
        ("dev", {"metricsPort": 8080},
         "echo-service:metricsPort = 8080: must be a port from 1024 to 65535 other than "
         "containerPort (8080)"),
        ("dev", {"metricsPort": 80}, "echo-service:metricsPort = 80: must be a port from 1024"),
        ("local", {"monitoring": True, "metricsPort": 9000, "localPort": 9000},
         "echo-service:metricsPort = 9000: must differ from localPort (9000)"),
        ("dev", {"logFormat": "xml"}, "echo-service:logFormat = 'xml': must be text or json"),
        ("dev", {"monitoring": "yes"}, "echo-service:monitoring = 'yes': must be true or false"),
        ("dev", {"logFormat": "json", "env": ["LOG_FORMAT=json"]},
         "echo-service:logFormat = 'json': is set twice"),
        ("dev", {"env": ["CLOUDWATCH_EMF_NAMESPACE=x"]}, "it cannot be set here"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_naming_key_value_and_what_is_allowed(stack, overrides, expected):
    assert expected in refusal(stack, overrides, env={"GOOGLE_CLOUD_PROJECT": "p"})


def test_metrics_port_may_equal_local_port_when_monitoring_is_off():
    assert (
        load("local", {"metricsPort": 9000, "localPort": 9000}).observability.metrics_port == 9000
    )
