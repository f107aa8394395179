"""The local stack with `monitoring`, `metricsPort` and `logFormat`: the metrics port published
on loopback only, under its own number, and the container told where to serve it."""

from __future__ import annotations

from tests.harness import run_stack
from tests.infra.test_local import CONTAINER


def test_monitoring_publishes_the_metrics_port_on_loopback_and_exports_its_url():
    rendered = run_stack("local", {"monitoring": True, "metricsPort": 9100})
    inputs = rendered.one(CONTAINER).inputs
    assert inputs["ports"] == [
        {"internal": 8080, "external": 8080, "ip": "127.0.0.1"},
        {"internal": 9100, "external": 9100, "ip": "127.0.0.1"},
    ]
    assert inputs["envs"] == ["PORT=8080", "METRICS_PORT=9100"]
    assert rendered.outputs["metricsUrl"] == "http://localhost:9100/metrics"


def test_without_monitoring_the_metrics_port_is_neither_set_nor_published():
    rendered = run_stack("local", {"metricsPort": 9100})
    inputs = rendered.one(CONTAINER).inputs
    assert [p["internal"] for p in inputs["ports"]] == [8080]
    assert inputs["envs"] == ["PORT=8080"]
    assert "metricsUrl" not in rendered.outputs


def test_log_format_json_reaches_the_container():
    inputs = run_stack("local", {"logFormat": "json", "monitoring": True}).one(CONTAINER).inputs
    assert inputs["envs"] == ["PORT=8080", "METRICS_PORT=9090", "LOG_FORMAT=json"]
