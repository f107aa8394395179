"""Prometheus metrics on ``METRICS_PORT`` and JSON logs, against a real server: parsed with the
Prometheus client's own parser, counted across workers, never on the public port."""

from __future__ import annotations

import http.client
import json
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.server import ConfigError, load_settings
from tests.app_process import Server, free_port


def _scrape(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    reply = conn.getresponse()
    assert reply.status == 200
    text = reply.read().decode()
    conn.close()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _wait_for(fn, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_metrics_count_what_was_sent_across_workers(start_server):
    port = free_port()
    srv = start_server(
        {"METRICS_PORT": str(port), "MODEL_MODULE": "tests.app.models.slow", "WEB_CONCURRENCY": "2"}
    ).wait_ready()
    for _ in range(40):  # new connections: the kernel spreads them over both workers
        assert srv.request("GET", "/predict?msg=0.001").status == 200
    for _ in range(3):
        srv.request("GET", "/predict?msg=raise")
    srv.request("GET", "/no/such/path/x1")
    srv.request("GET", "/no/such/path/x2")

    def counted():
        m = _scrape(port)
        ok = m.get(
            ("http_requests_total", (("method", "GET"), ("path", "/predict"), ("status", "200")))
        )
        return m if ok == 40 else None

    m = _wait_for(counted)
    assert m, _scrape(port)
    key = (("method", "GET"), ("path", "/predict"), ("status", "500"))
    assert m[("http_requests_total", key)] == 3
    assert (
        m[("http_requests_total", (("method", "GET"), ("path", "other"), ("status", "404")))] == 2
    )
    assert m[("model_inference_duration_seconds_count", ())] == 43
    assert m[("model_inference_duration_seconds_sum", ())] >= 40 * 0.001
    assert m[("http_request_duration_seconds_count", (("path", "/predict"),))] == 43
    assert (
        m[
            (
                "model_info",
                (
                    ("module", "tests.app.models.slow"),
                    ("version", srv.request("GET", "/healthz").headers["x-model-version"]),
                ),
            )
        ]
        == 1
    )
    assert m[("model_queue_rejected_total", ())] == 0
    assert m[("http_requests_in_flight", ())] == 0
    # both workers answered, and both are summed (one file each)
    workers = {line.split("]")[0] for line in srv.stderr.splitlines() if "ready (load took" in line}
    assert len(workers) == 2


def test_the_queue_gauges_and_rejections_are_counted(start_server):
    from concurrent.futures import ThreadPoolExecutor

    port = free_port()
    srv = start_server(
        {
            "METRICS_PORT": str(port),
            "MODEL_MODULE": "tests.app.models.slow",
            "WEB_CONCURRENCY": "1",
            "MAX_QUEUE": "1",
        }
    ).wait_ready()
    with ThreadPoolExecutor(4) as pool:
        replies = [
            pool.submit(srv.request, "GET", "/predict?msg=1.5", timeout=10) for _ in range(4)
        ]
        time.sleep(1.2)  # one running, one waiting, two refused; the flush is once a second
        m = _scrape(port)
        assert m[("model_queue_waiting", ())] == 1
        assert m[("http_requests_in_flight", ())] == 2
        statuses = sorted(r.result().status for r in replies)
    assert statuses == [200, 200, 503, 503]
    m = _wait_for(lambda: (x := _scrape(port))[("model_queue_rejected_total", ())] == 2 and x)
    assert m


def test_metrics_are_not_served_on_the_public_port(start_server):
    port = free_port()
    srv = start_server({"METRICS_PORT": str(port)}).wait_ready()
    assert srv.request("GET", "/metrics").status == 404
    assert _scrape(port)


def test_metrics_are_off_unless_a_port_is_set(server):
    assert load_settings({}).metrics_port is None


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"METRICS_PORT": "8080", "PORT": "8080"}, "a port of their own"),
        ({"METRICS_PORT": "x"}, "METRICS_PORT='x' is not allowed"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' is not allowed: use one of text, json"),
    ],
)
def test_bad_metrics_and_log_settings_are_refused(env, words):
    with pytest.raises(ConfigError, match=words):
        load_settings(env)


def test_json_logs_are_one_object_per_line_with_the_request_id(tmp_path):
    srv = Server(tmp_path, {"LOG_FORMAT": "json"}).wait_ready()
    try:
        srv.request(
            "GET",
            "/predict?msg=a%0Ab",
            headers={"X-Amzn-Trace-Id": "Root=1-abc", "User-Agent": 'x"\ny'[:2]},
        )
        srv.request("GET", "/healthz", headers={"traceparent": "00-4bf92f-00f067-01"})
        time.sleep(0.1)
    finally:
        srv.stop()
    records = [json.loads(line) for line in srv.stdout.splitlines()]
    predict = next(r for r in records if r["path"] == "/predict")
    assert predict["request_id"] == "Root=1-abc"
    assert predict["query"] == "msg=a%0Ab"
    assert predict["status"] == 200 and predict["version"] == "test-echo-1"
    assert predict["severity"] == "INFO" and predict["duration_ms"] >= 0
    health = next(r for r in records if r["path"] == "/healthz")
    assert health["request_id"] == "00-4bf92f-00f067-01"


def test_emf_lines_carry_the_models_time_for_cloudwatch(tmp_path):
    env = {
        "CLOUDWATCH_EMF_NAMESPACE": "echo-service",
        "CLOUDWATCH_EMF_SERVICE": "echo-service-dev",
        "MODEL_MODULE": "tests.app.models.slow",
    }
    srv = Server(tmp_path, env).wait_ready()
    try:
        srv.request("GET", "/predict?msg=0.05")
        srv.request("GET", "/healthz")
        time.sleep(0.1)
    finally:
        srv.stop()
    records = [json.loads(line) for line in srv.stdout.splitlines()]  # implies JSON lines
    predict = next(r for r in records if r["path"] == "/predict")
    directive = predict["_aws"]["CloudWatchMetrics"][0]
    assert directive == {
        "Namespace": "echo-service",
        "Dimensions": [["Service"]],
        "Metrics": [{"Name": "ModelInferenceTime", "Unit": "Milliseconds"}],
    }
    assert predict["Service"] == "echo-service-dev"
    assert 50 <= predict["ModelInferenceTime"] < 1000
    assert abs(predict["_aws"]["Timestamp"] / 1000 - time.time()) < 60
    health = next(r for r in records if r["path"] == "/healthz")
    assert "_aws" not in health  # only predictions carry a model time


def test_emf_needs_both_variables():
    with pytest.raises(ConfigError, match="CLOUDWATCH_EMF_NAMESPACE and CLOUDWATCH_EMF_SERVICE"):
        load_settings({"CLOUDWATCH_EMF_NAMESPACE": "echo-service"})
