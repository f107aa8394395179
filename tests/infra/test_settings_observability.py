"""Issue 14's keys in settings: monitoring, alertEmail, requestsPerReplica, metricsPort, logFormat."""

from __future__ import annotations

import dataclasses

import pytest

from infra.observability import ERROR_RATE_PERCENT, P99_LATENCY_SECONDS
from infra.settings import DEFAULTS, Observability
from tests.infra.test_settings import load, refusal

KEYS = (
    "monitoring",
    "alertEmail",
    "requestsPerReplica",
    "metricsPort",
    "logFormat",
    "alarmLatencyMs",
    "alarmErrorPercent",
    "rollbackOnAlarm",
)


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


def test_the_deployment_alarm_keys_are_read_and_default_to_the_shared_thresholds():
    s = load("dev", {"monitoring": True, "alarmLatencyMs": 8000, "alarmErrorPercent": 12,
                     "rollbackOnAlarm": False})  # fmt: skip
    assert (s.observability.alarm_latency_ms, s.observability.alarm_error_percent) == (8000, 12)
    assert s.observability.rollback_on_alarm is False
    # The defaults are the thresholds every cloud used before they were settings.
    assert DEFAULTS["alarmLatencyMs"] == P99_LATENCY_SECONDS * 1000
    assert DEFAULTS["alarmErrorPercent"] == ERROR_RATE_PERCENT


def test_a_latency_threshold_may_go_up_with_the_request_timeout():
    s = load("dev", {"monitoring": True, "timeoutSeconds": 60, "alarmLatencyMs": 45000})
    assert s.observability.alarm_latency_ms == 45000


@pytest.mark.parametrize(
    ("stack", "overrides"),
    [
        ("dev", {"timeoutSeconds": 2}),
        ("gcp", {"timeoutSeconds": 1}),
        ("local", {"timeoutSeconds": 2}),
        ("local", {"monitoring": True, "timeoutSeconds": 2}),
    ],
)
def test_a_short_timeout_without_alarms_is_not_refused_over_the_alarm_threshold(stack, overrides):
    # No alarm reads alarmLatencyMs here (monitoring off, or local): its default (2500 ms) above
    # a 1-2 s timeoutSeconds must not refuse a stack that never set it.
    s = load(stack, overrides, env={"GOOGLE_CLOUD_PROJECT": "p"})
    assert s.server.timeout_seconds == overrides["timeoutSeconds"]


def test_a_short_timeout_with_alarms_asks_for_a_lower_threshold():
    assert "echo-service:alarmLatencyMs = 2500: must be from 1 to 1999 milliseconds" in refusal(
        "dev", {"monitoring": True, "timeoutSeconds": 2}
    )


@pytest.mark.parametrize(
    ("stack", "overrides", "expected"),
    [
        ("dev", {"monitoring": True, "alarmLatencyMs": 30000},
         "echo-service:alarmLatencyMs = 30000: must be from 1 to 29999 milliseconds: below the "
         "request timeout (30 s"),
        ("dev", {"monitoring": True, "timeoutSeconds": 10, "alarmLatencyMs": 12000},
         "echo-service:alarmLatencyMs = 12000: must be from 1 to 9999 milliseconds"),
        ("dev", {"monitoring": True, "alarmLatencyMs": 0},
         "echo-service:alarmLatencyMs = 0: must be from 1 to 29999"),
        ("dev", {"monitoring": True, "alarmErrorPercent": 100},
         "echo-service:alarmErrorPercent = 100: must be a percentage of requests from 1 to 99"),
        ("dev", {"monitoring": True, "alarmErrorPercent": 0},
         "echo-service:alarmErrorPercent = 0: must be a percentage"),
        ("dev", {"alarmErrorPercent": 10},
         "echo-service:alarmErrorPercent = 10: needs monitoring = true"),
        ("dev", {"rollbackOnAlarm": False},
         "echo-service:rollbackOnAlarm = false: needs monitoring = true"),
        ("gcp", {"monitoring": True, "rollbackOnAlarm": False},
         "echo-service:rollbackOnAlarm = false: is read on aws only"),
        ("gcp", {"alarmLatencyMs": 8000},
         "echo-service:alarmLatencyMs = 8000: needs monitoring = true"),
        ("local", {"monitoring": True, "alarmLatencyMs": 8000},
         "echo-service:alarmLatencyMs = 8000: is read on aws and gcp only"),
        ("dev", {"monitoring": True, "alarmLatencyMs": "2.5"},
         "echo-service:alarmLatencyMs = '2.5': must be a whole number"),
    ],
)  # fmt: skip
def test_bad_alarm_values_are_refused_naming_key_value_and_what_is_allowed(
    stack, overrides, expected
):
    assert expected in refusal(stack, overrides, env={"GOOGLE_CLOUD_PROJECT": "p"})


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
