"""The local stack with a model file, server settings and a start-up budget (issue 12), and the
one environment every target gives the container."""

from __future__ import annotations

import json

import pytest

from infra.local import HEALTHCHECK_START_PERIOD, WAIT_TIMEOUT_SECONDS, go_duration
from tests.harness import ROOT, Rendered, run_stack
from tests.infra.test_aws import TASK_DEF
from tests.infra.test_aws import render as render_aws
from tests.infra.test_gcp import DEPLOYMENT, plain
from tests.infra.test_gcp import render as render_gcp

CONTAINER = "docker:index/container:Container"
SHA = "0123456789abcdef" * 4


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "churn-v3.joblib"
    path.write_bytes(b"weights")
    return path


def container(r: Rendered) -> dict:
    return plain(r.one(CONTAINER).inputs)


def test_without_the_keys_the_container_is_as_before():
    inputs = container(run_stack("local"))
    assert inputs["envs"] == ["PORT=8080"]
    assert "mounts" not in inputs
    assert inputs["healthcheck"]["startPeriod"] == HEALTHCHECK_START_PERIOD == "30s"
    assert inputs["waitTimeout"] == WAIT_TIMEOUT_SECONDS == 60


def test_the_model_file_is_mounted_read_only_at_model_path(model_file):
    inputs = container(run_stack("local", {"modelUri": str(model_file), "modelSha256": SHA}))
    assert inputs["mounts"] == [
        {
            "type": "bind",
            "source": str(model_file.resolve()),
            "target": "/model/churn-v3.joblib",
            "readOnly": True,
        }
    ]
    assert "MODEL_PATH=/model/churn-v3.joblib" in inputs["envs"]
    assert f"MODEL_SHA256={SHA}" in inputs["envs"]
    # The root filesystem stays read-only; the mount adds nothing writable.
    assert inputs["readOnly"] is True


def test_a_relative_path_is_read_from_the_project_directory():
    inputs = container(run_stack("local", {"modelUri": "app/Dockerfile"}))
    assert inputs["mounts"][0]["source"] == str(ROOT / "app" / "Dockerfile")


def test_the_start_up_budget_sets_the_start_period_and_the_wait():
    inputs = container(run_stack("local", {"startupSeconds": 90}))
    assert inputs["healthcheck"]["startPeriod"] == "1m30s"
    assert inputs["waitTimeout"] == 120


@pytest.mark.parametrize(
    ("seconds", "go"),
    [(5, "5s"), (30, "30s"), (60, "1m0s"), (90, "1m30s"), (3600, "1h0m0s"), (3661, "1h1m1s")],
)
def test_durations_are_spelt_as_go_prints_them(seconds, go):
    assert go_duration(seconds) == go


def test_the_same_settings_give_the_same_environment_on_every_target():
    settings = {
        "workers": 3,
        "timeoutSeconds": 45,
        "maxQueue": 8,
        "maxBatchSize": 16,
        "maxBatchWaitMs": 5,
        "env": ["B=2", "A=1"],
    }
    local = container(run_stack("local", settings))["envs"]
    aws_app = next(
        d
        for d in json.loads(render_aws(settings).one(TASK_DEF).inputs["containerDefinitions"])
        if d["name"] == "app"
    )
    aws = [f"{e['name']}={e['value']}" for e in aws_app["environment"]]
    gke = plain(render_gcp(**settings).one(DEPLOYMENT).inputs)["spec"]["template"]["spec"]
    gcp = [f"{e['name']}={e['value']}" for e in gke["containers"][0]["env"]]
    expected = [
        "PORT=8080",
        "WEB_CONCURRENCY=3",
        "TIMEOUT=45",
        "MAX_QUEUE=8",
        "MAX_BATCH_SIZE=16",
        "MAX_BATCH_WAIT_MS=5",
        "A=1",
        "B=2",
    ]
    assert local == gcp == expected
    # aws adds the server's keep-alive, which must outlast the ALB's idle timeout (75 s here),
    # and the task's memory, which Fargate hides from the container's cgroup
    aws_only = ("KEEPALIVE_TIMEOUT=", "CONTAINER_MEMORY_MB=")
    assert [e for e in aws if not e.startswith(aws_only)] == expected
    assert "KEEPALIVE_TIMEOUT=90" in aws
    assert "CONTAINER_MEMORY_MB=512" in aws
