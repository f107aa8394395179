"""Issue 12's keys: modelUri, modelSha256, modelStorageGiB, the server's settings, env and
startupSeconds. Each bad value is refused before any resource, naming the key."""

from __future__ import annotations

import pulumi
import pytest

from infra import settings as s
from infra.settings import (
    ModelSettings,
    ServerSettings,
    Settings,
    container_env,
    load_settings,
)
from tests.harness import stack_config

GCP = {"gcp:project": "my-project"}
SHA = "0123456789abcdef" * 4
STACKS = {"dev": {}, "gcp": GCP, "local": {}}


def load(stack: str, overrides: dict | None = None) -> Settings:
    pulumi.runtime.set_all_config(stack_config(stack, {**STACKS[stack], **(overrides or {})}))
    return load_settings(stack=stack, env={})


def refusal(stack: str, overrides: dict) -> str:
    with pytest.raises(pulumi.RunError) as caught:
        load(stack, overrides)
    return str(caught.value)


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "churn-v3.joblib"
    path.write_bytes(b"weights")
    return path


def test_without_the_new_keys_nothing_changes():
    for stack in STACKS:
        loaded = load(stack)
        assert loaded.model == ModelSettings()
        assert loaded.server == ServerSettings()
        assert container_env(loaded) == [("PORT", "8080")]


def test_an_s3_object_on_aws():
    loaded = load("dev", {"modelUri": "s3://my-models/churn/v3.joblib", "modelSha256": SHA.upper()})
    m = loaded.model
    assert (m.bucket, m.key, m.sha256, m.is_prefix) == ("my-models", "churn/v3.joblib", SHA, False)
    assert m.container_path == "/model/v3.joblib"


def test_an_s3_prefix_on_aws_is_the_model_folder():
    m = load("dev", {"modelUri": "s3://my-models/churn/v3/"}).model
    assert (m.bucket, m.key, m.is_prefix, m.container_path) == (
        "my-models",
        "churn/v3/",
        True,
        "/model",
    )


def test_a_gcs_object_on_gcp():
    m = load("gcp", {"modelUri": "gs://my-models/churn/v3.joblib", "modelStorageGiB": 2}).model
    assert (m.bucket, m.key, m.storage_gib) == ("my-models", "churn/v3.joblib", 2)


def test_a_local_file_absolute_or_relative_to_the_project(model_file):
    m = load("local", {"modelUri": str(model_file)}).model
    assert m.local_path == str(model_file.resolve())
    assert m.container_path == "/model/churn-v3.joblib"
    relative = load("local", {"modelUri": "app/Dockerfile"}).model
    assert relative.local_path == str(s.PROJECT_DIR / "app" / "Dockerfile")


@pytest.mark.parametrize(
    ("stack", "overrides", "key", "says"),
    [
        ("dev", {"modelUri": "gs://b/m.joblib"}, "modelUri", "the gcp stack"),
        ("dev", {"modelUri": "https://b/m.joblib"}, "modelUri", "s3://BUCKET/"),
        ("dev", {"modelUri": "s3://bucket-only"}, "modelUri", "must name a bucket and an object"),
        ("dev", {"modelUri": "s3://b/models/*.joblib"}, "modelUri", "no wildcards"),
        ("gcp", {"modelUri": "s3://b/m.joblib", "modelStorageGiB": 1}, "modelUri", "aws stack"),
        ("gcp", {"modelUri": "gs://b/models/", "modelStorageGiB": 1}, "modelUri", "not a prefix"),
        ("local", {"modelUri": "s3://b/m.joblib"}, "modelUri", "not a s3:// URI"),
        ("local", {"modelUri": "/no/such/model.joblib"}, "modelUri", "must be an existing file"),
        ("dev", {"modelUri": "s3://b/m", "modelSha256": "abc"}, "modelSha256", "64 hexadecimal"),
        ("dev", {"modelUri": "s3://b/m", "modelSha256": "g" * 64}, "modelSha256", "64 hexadecimal"),
        ("dev", {"modelSha256": SHA}, "modelSha256", "needs modelUri"),
        ("dev", {"modelUri": "s3://b/p/", "modelSha256": SHA}, "modelSha256", "prefix"),
        ("dev", {"modelUri": "s3://b/m", "modelStorageGiB": 181}, "modelStorageGiB", "200 GiB"),
        ("dev", {"modelUri": "s3://b/m", "modelStorageGiB": -1}, "modelStorageGiB", "must be 0"),
        ("dev", {"modelStorageGiB": 5}, "modelStorageGiB", "needs modelUri"),
        ("gcp", {"modelUri": "gs://b/m"}, "modelStorageGiB", "from 1 to 9"),
        ("gcp", {"modelUri": "gs://b/m", "modelStorageGiB": 10}, "modelStorageGiB", "Autopilot"),
        (
            "gcp",
            {"modelUri": "gs://b/m", "modelStorageGiB": 93, "gkeMode": "standard"},
            "modelStorageGiB",
            "boot disk",
        ),
        ("dev", {"workers": 257}, "workers", "1 to 256"),
        ("dev", {"workers": -1}, "workers", "1 to 256"),
        ("gcp", {"timeoutSeconds": 3601}, "timeoutSeconds", "1 to 3600"),
        ("local", {"maxQueue": -2}, "maxQueue", "0 to 100000"),
        ("local", {"maxQueue": 100001}, "maxQueue", "0 to 100000"),
        ("local", {"maxBatchSize": -1}, "maxBatchSize", "from 1 to 4096"),
        ("dev", {"maxBatchSize": 4097}, "maxBatchSize", "or 0 for the model's own"),
        ("gcp", {"maxBatchWaitMs": -2}, "maxBatchWaitMs", "from 0 to 10000 milliseconds"),
        ("local", {"maxBatchWaitMs": 10001}, "maxBatchWaitMs", "or -1 for the model's own"),
        ("local", {"env": ["MAX_BATCH_SIZE=8"]}, "env", "use the maxBatchSize key"),
        ("local", {"env": ["MAX_BATCH_WAIT_MS=5"]}, "env", "use the maxBatchWaitMs key"),
        ("local", {"startupSeconds": -1}, "startupSeconds", "from 1 to 3600"),
        ("gcp", {"startupSeconds": 3601}, "startupSeconds", "from 1 to 3600"),
        ("dev", {"startupSeconds": 301}, "startupSeconds", "at most 300"),
        ("local", {"env": ["lower=x"]}, "env", "NAME of A-Z"),
        ("local", {"env": ["9LIVES=x"]}, "env", "not starting with a digit"),
        ("local", {"env": ["NO_EQUALS"]}, "env", '"NAME=value"'),
        ("local", {"env": {"A": "b"}}, "env", "list of"),
        ("local", {"env": ["A=1", "A=2"]}, "env", "listed twice"),
        ("local", {"env": ["PORT=9000"]}, "env", "use the containerPort key"),
        ("local", {"env": ["WEB_CONCURRENCY=4"]}, "env", "use the workers key"),
        ("local", {"env": ["TIMEOUT=60"]}, "env", "use the timeoutSeconds key"),
        ("local", {"env": ["MAX_QUEUE=1"]}, "env", "use the maxQueue key"),
        ("local", {"env": ["MODEL_PATH=/x"]}, "env", "use the modelUri key"),
        ("local", {"env": ["MODEL_SHA256=x"]}, "env", "use the modelSha256 key"),
        ("local", {"env": ["API_KEYS=k"]}, "env", "use the apiKeys key instead"),
        ("local", {"env": ["METRICS_PORT=9"]}, "env", "cannot be set here"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(stack, overrides, key, says):
    message = refusal(stack, overrides)
    assert f"echo-service:{key} = " in message
    assert says in message


def test_gcp_needs_room_for_the_model_and_standard_allows_more():
    message = refusal("gcp", {"modelUri": "gs://b/m"})
    assert "echo-service:modelStorageGiB = 0" in message and "at least the model" in message
    big = {"modelUri": "gs://b/m", "modelStorageGiB": 92, "gkeMode": "standard"}
    assert load("gcp", {**big, "nodeDiskSizeGb": 120}).model.storage_gib == 92
    # 40 GB (the default node disk) is 37 GiB, less the 10 GiB the node keeps
    assert load("gcp", {**big, "modelStorageGiB": 27}).model.storage_gib == 27
    message = refusal("gcp", {**big, "modelStorageGiB": 28})
    assert "from 1 to 27 GiB" in message and "40 GB boot disk (nodeDiskSizeGb)" in message


def test_the_limits_follow_the_platforms():
    assert load("dev", {"modelUri": "s3://b/m", "modelStorageGiB": 180}).model.storage_gib == 180
    assert load("gcp", {"modelUri": "gs://b/m", "modelStorageGiB": 9}).model.storage_gib == 9
    assert load("dev", {"startupSeconds": 300}).server.startup_seconds == 300
    assert load("gcp", {"startupSeconds": 3600}).server.startup_seconds == 3600
    assert load("local", {"maxQueue": 0}).server.max_queue == 0
    assert load("local", {"maxBatchWaitMs": 0}).server.max_batch_wait_ms == 0
    assert load("dev", {"maxBatchSize": 4096}).server.max_batch_size == 4096


def test_the_batch_keys_reach_the_environment_only_when_set():
    loaded = load("gcp", {"maxBatchSize": 16, "maxBatchWaitMs": 0})
    assert container_env(loaded) == [
        ("PORT", "8080"),
        ("MAX_BATCH_SIZE", "16"),
        ("MAX_BATCH_WAIT_MS", "0"),
    ]
    assert container_env(load("gcp", {"maxBatchWaitMs": 25}))[1:] == [("MAX_BATCH_WAIT_MS", "25")]


def test_the_server_settings_and_env_reach_the_environment_in_one_order(model_file):
    loaded = load(
        "local",
        {
            "modelUri": str(model_file),
            "modelSha256": SHA,
            "workers": 1,
            "timeoutSeconds": 120,
            "maxQueue": 4,
            "env": ["LOG_LEVEL=debug", "LOG_FORMAT=json", "EMPTY=", "WITH_EQUALS=a=b"],
            "containerPort": 9000,
        },
    )
    assert container_env(loaded) == [
        ("PORT", "9000"),
        ("WEB_CONCURRENCY", "1"),
        ("TIMEOUT", "120"),
        ("MAX_QUEUE", "4"),
        ("MODEL_PATH", "/model/churn-v3.joblib"),
        ("MODEL_SHA256", SHA),
        ("EMPTY", ""),
        ("LOG_FORMAT", "json"),
        ("LOG_LEVEL", "debug"),
        ("WITH_EQUALS", "a=b"),
    ]


def test_every_problem_is_reported_at_once():
    message = refusal("dev", {"modelUri": "gs://b/m", "workers": 0, "env": ["x=1"], "maxQueue": -5})
    for key in ("modelUri", "env", "maxQueue"):
        assert f"echo-service:{key}" in message


def test_a_refused_env_entry_never_shows_its_value():
    message = refusal("dev", {"env": ["API_KEYS=s3cr3t-value", "9BAD=tok-123", "HF_TOKEN"]})
    assert "s3cr3t-value" not in message and "tok-123" not in message
    assert "API_KEYS is set by the program: use the apiKeys key instead" in message


def test_workers_that_cannot_fit_in_memory_even_without_a_model_are_refused():
    # 512 MiB: 32 + 10 x 45 = 482 fits; 11 workers (527) do not.
    assert load("dev", {"workers": 10}).server.workers == 10
    message = refusal("dev", {"workers": 11})
    assert "echo-service:workers = 11: does not fit in memory = 512 MiB" in message
    assert "at most 10 workers fit" in message
