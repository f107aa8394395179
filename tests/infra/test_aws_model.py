"""The aws stack with a model to fetch, server settings and a start-up budget (issue 12).

The task definition gets a fetch container (AWS CLI) that copies `modelUri` into a task volume;
the app container waits for it to succeed and mounts the volume read-only. The task role may read
exactly that object or prefix; the policy documents are linted with parliament and the container
definitions checked against botocore's ECS model. The fetch script is run for real, with a
stand-in `aws` command, to see the lines a user would read in the logs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from typing import Any

import pytest
from parliament import analyze_policy_string

from infra.aws import model as aws_model
from infra.settings import ModelSettings
from tests.harness import Rendered
from tests.infra import fakes
from tests.infra.botocore_shapes import assert_valid
from tests.infra.test_aws import (
    ECS_HEALTH_LIMITS,
    LOG_GROUP,
    ROLE,
    SERVICE,
    TASK_DEF,
    ints,
    register_task_definition_request,
    render,
)

POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
SHA = hashlib.sha256(b"weights").hexdigest()
OBJECT = {"modelUri": "s3://my-models/churn/v3.joblib", "modelSha256": SHA}
PREFIX = {"modelUri": "s3://my-models/churn/v3/"}


def definitions(r: Rendered) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in json.loads(r.one(TASK_DEF).inputs["containerDefinitions"])}


def env(definition: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in definition["environment"]}


def role(r: Rendered, suffix: str):
    return next(res for res in r.of_type(ROLE) if res.name == f"echo-service-{suffix}")


def findings(document: dict[str, Any]) -> list[str]:
    return [f"{f.issue}: {f.detail}" for f in analyze_policy_string(json.dumps(document)).findings]


# --- off by default -------------------------------------------------------------------------------


def test_without_modelUri_the_task_has_one_container_and_the_role_no_policy():  # noqa: N802
    r = render()
    assert list(definitions(r)) == ["app"]
    assert r.of_type(POLICY) == []
    assert "ephemeralStorage" not in r.one(TASK_DEF).inputs
    assert [v["name"] for v in r.one(TASK_DEF).inputs["volumes"]] == ["tmp"]


# --- the fetch container and the app container ----------------------------------------------------


def test_the_fetch_container_copies_the_object_and_the_app_waits_for_its_success():
    r = render(OBJECT)
    d = definitions(r)
    assert list(d) == ["model-fetch", "app"]
    fetch, app = d["model-fetch"], d["app"]
    assert fetch["image"] == aws_model.FETCH_IMAGE
    assert fetch["image"].startswith("public.ecr.aws/") and ":latest" not in fetch["image"]
    assert fetch["essential"] is False
    assert fetch["entryPoint"] == ["sh", "-c"]
    script = fetch["command"][0]
    assert "aws s3 cp --only-show-errors s3://my-models/churn/v3.joblib /model/v3.joblib" in script
    assert SHA in script
    assert fetch["mountPoints"] == [
        {"sourceVolume": "model", "containerPath": "/model", "readOnly": False}
    ]
    assert app["dependsOn"] == [{"containerName": "model-fetch", "condition": "SUCCESS"}]
    assert {"sourceVolume": "model", "containerPath": "/model", "readOnly": True} in app[
        "mountPoints"
    ]
    assert env(app)["MODEL_PATH"] == "/model/v3.joblib"
    assert env(app)["MODEL_SHA256"] == SHA
    assert [v["name"] for v in r.one(TASK_DEF).inputs["volumes"]] == ["tmp", "model"]


def test_a_prefix_is_synced_into_the_model_folder():
    d = definitions(render(PREFIX))
    assert (
        "aws s3 sync --only-show-errors s3://my-models/churn/v3/ /model"
        in (d["model-fetch"]["command"][0])
    )
    assert env(d["app"])["MODEL_PATH"] == "/model"
    assert "MODEL_SHA256" not in env(d["app"])


def test_the_fetch_logs_go_to_the_same_log_group_under_their_own_prefix():
    r = render(OBJECT)
    d = definitions(r)
    fetch, app = d["model-fetch"]["logConfiguration"], d["app"]["logConfiguration"]
    assert fetch["logDriver"] == "awslogs"
    assert fetch["options"]["awslogs-group"] == app["options"]["awslogs-group"]
    assert fetch["options"]["awslogs-group"] == r.one(LOG_GROUP).outputs["name"]
    assert fetch["options"]["awslogs-stream-prefix"] == "model-fetch"


def test_model_storage_adds_to_the_tasks_ephemeral_storage():
    r = render({**OBJECT, "modelStorageGiB": 30})
    assert ints(r.one(TASK_DEF).inputs["ephemeralStorage"]) == {"sizeInGib": 50}
    assert "ephemeralStorage" not in render(OBJECT).one(TASK_DEF).inputs


@pytest.mark.parametrize(
    "overrides",
    [OBJECT, PREFIX, {**OBJECT, "modelStorageGiB": 180, "startupSeconds": 300, "workers": 2}],
    ids=["object", "prefix", "largest-storage-and-budget"],
)
def test_the_task_definition_is_a_valid_register_task_definition_request(overrides):
    r = render(overrides)
    inputs = ints(r.one(TASK_DEF).inputs)
    storage = inputs.pop("ephemeralStorage", None)
    request = register_task_definition_request(_without(r, "ephemeralStorage"))
    if storage:
        request["ephemeralStorage"] = {"sizeInGiB": storage["sizeInGib"]}
        assert 21 <= storage["sizeInGib"] <= 200  # ECS's limits (not in the botocore model)
    assert_valid("ecs", "RegisterTaskDefinition", request)
    # Every mount names a volume of the task; every dependency a container of it.
    volumes = {v["name"] for v in request["volumes"]}
    names = {c["name"] for c in request["containerDefinitions"]}
    for c in request["containerDefinitions"]:
        assert {m["sourceVolume"] for m in c["mountPoints"]} <= volumes
        assert {d["containerName"] for d in c.get("dependsOn", [])} <= names - {c["name"]}
    essential = [c for c in request["containerDefinitions"] if c.get("essential", True)]
    assert [c["name"] for c in essential] == ["app"]


def _without(r: Rendered, key: str) -> Rendered:
    task = r.one(TASK_DEF)
    inputs = {k: v for k, v in task.inputs.items() if k != key}
    copy = type(task)(**{**task.__dict__, "inputs": inputs})
    return Rendered([copy if res is task else res for res in r.resources], r.calls, r.outputs)


# --- IAM -----------------------------------------------------------------------------------------


def test_the_task_role_may_read_exactly_the_object_and_nothing_else():
    r = render(OBJECT)
    policy = r.one(POLICY)
    assert policy.inputs["role"] == role(r, "task").outputs["id"]
    assert json.loads(policy.inputs["policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadModelObject",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::my-models/churn/v3.joblib",
            }
        ],
    }


def test_a_prefix_grants_listing_under_it_and_reading_its_objects_only():
    document = json.loads(render(PREFIX).one(POLICY).inputs["policy"])
    assert document["Statement"] == [
        {
            "Sid": "ListModelPrefix",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::my-models",
            "Condition": {"StringLike": {"s3:prefix": ["churn/v3/*"]}},
        },
        {
            "Sid": "ReadModelObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::my-models/churn/v3/*",
        },
    ]


def test_the_execution_role_is_unchanged_and_only_the_task_role_gets_the_policy():
    plain, fetching = render(), render(OBJECT)
    assert [p.inputs for p in fetching.of_type(ATTACHMENT)] == [
        p.inputs for p in plain.of_type(ATTACHMENT)
    ]
    assert role(fetching, "execution").inputs == role(plain, "execution").inputs
    assert [p.inputs["role"] for p in fetching.of_type(POLICY)] == [
        role(fetching, "task").outputs["id"]
    ]


def test_the_task_definition_waits_for_the_read_access():
    r = render(OBJECT)
    assert r.one(POLICY).urn in r.one(TASK_DEF).dependencies


# --- a modelUri change, then a rollback (issue 17, item 5) ----------------------------------------
NEXT = {"modelUri": "s3://my-models/churn/v4.joblib"}


def granted(r: Rendered) -> dict[str, list[str]]:
    """Each read policy's resource name and the S3 resources it grants."""
    return {
        p.name: [s["Resource"] for s in json.loads(p.inputs["policy"])["Statement"]]
        for p in r.of_type(POLICY)
    }


def test_a_new_model_gets_its_own_policy_so_the_previous_one_outlives_the_deploy():
    # A rollback restarts the previous task definition, whose fetch reads the previous object
    # with the same task role: its grant must still exist then. The previous policy is one the
    # new program no longer registers, which the engine deletes only at the end of an update
    # that got there (after the service's update waited for steady state); one policy updated
    # in place would have dropped the previous object before the deploy.
    before, after = render(OBJECT), render(NEXT)
    (old_name, old_grant), (new_name, new_grant) = (
        *granted(before).items(),
        *granted(after).items(),
    )
    assert old_name != new_name
    assert old_grant == ["arn:aws:s3:::my-models/churn/v3.joblib"]
    assert new_grant == ["arn:aws:s3:::my-models/churn/v4.joblib"]
    old, new = before.one(POLICY), after.one(POLICY)
    assert old.urn not in {res.urn for res in after.resources}
    # Created before the task definition that needs it, on the same role as the previous one.
    assert new.urn in after.one(TASK_DEF).dependencies
    assert new.inputs["role"] == old.inputs["role"] == role(after, "task").outputs["id"]
    # Not a replacement: a replaced resource a failed update leaves pending deletion is deleted
    # first thing in the next update, while the restored tasks may still need it.
    for policy in (old, new):
        assert not policy.delete_before_replace and not policy.replace_on_changes


def test_the_same_model_keeps_its_policy_and_a_new_checksum_needs_no_new_grant():
    names = {next(iter(granted(render(o)))) for o in (OBJECT, {**OBJECT, "modelSha256": ""})}
    assert len(names) == 1
    assert next(iter(granted(render(PREFIX)))) not in names


@pytest.mark.parametrize("overrides", [OBJECT, PREFIX], ids=["object", "prefix"])
def test_parliament_finds_nothing_wrong_with_the_policies(overrides):
    r = render(overrides)
    # (Parliament reads identity policies; the roles' trust policies are resource policies,
    # which it reports as malformed for having no Resource, so they are not linted here.)
    assert findings(json.loads(r.one(POLICY).inputs["policy"])) == []


def test_parliament_would_catch_a_resource_that_does_not_fit_the_action():
    model = ModelSettings(uri="s3://b/k", bucket="b", key="k")
    document = aws_model.policy_document("aws", model)
    document["Statement"][0]["Resource"] = "arn:aws:s3:::b"  # a bucket, not an object
    assert any(f.startswith("RESOURCE_MISMATCH") for f in findings(document))


def test_the_policy_follows_the_partition():
    model = ModelSettings(uri="s3://b/k", bucket="b", key="k")
    document = aws_model.policy_document("aws-cn", model)
    assert document["Statement"][0]["Resource"] == "arn:aws-cn:s3:::b/k"


# --- server settings, env and the start-up budget -------------------------------------------------


def test_server_settings_and_env_reach_the_app_container():
    d = definitions(
        render({"workers": 1, "timeoutSeconds": 90, "maxQueue": 0, "env": ["LOG_FORMAT=json"]})
    )
    assert d["app"]["environment"] == [
        {"name": "PORT", "value": "8080"},
        {"name": "WEB_CONCURRENCY", "value": "1"},
        {"name": "TIMEOUT", "value": "90"},
        # on aws only: the server's keep-alive outlasts the ALB's idle timeout (90 + 30 + 15 s)
        {"name": "KEEPALIVE_TIMEOUT", "value": "135"},
        # on aws only: the task's memory, which Fargate hides from the container's cgroup
        {"name": "CONTAINER_MEMORY_MB", "value": "512"},
        {"name": "MAX_QUEUE", "value": "0"},
        {"name": "LOG_FORMAT", "value": "json"},
    ]


def test_the_start_up_budget_reaches_the_container_health_check_and_the_service_grace():
    plain, budget = render(), render({"startupSeconds": 240})
    assert definitions(plain)["app"]["healthCheck"]["startPeriod"] == 15
    assert ints(plain.one(SERVICE).inputs)["healthCheckGracePeriodSeconds"] == 30
    check = definitions(budget)["app"]["healthCheck"]
    assert check["startPeriod"] == 240
    low, high = ECS_HEALTH_LIMITS["startPeriod"]
    assert low <= check["startPeriod"] <= high
    assert ints(budget.one(SERVICE).inputs)["healthCheckGracePeriodSeconds"] == 240


# --- the fetch script, run ------------------------------------------------------------------------


@pytest.fixture
def fake_aws(tmp_path):
    """A stand-in `aws` on PATH: `aws s3 cp SRC DST` copies $FAKE_S3/<key> or fails like the CLI."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "aws"
    script.write_text(
        "#!/bin/sh\n"
        "src=$4; dst=$5; key=${src#s3://*/}\n"
        'if [ ! -f "$FAKE_S3/$key" ]; then\n'
        '  echo "fatal error: An error occurred (404) when calling the HeadObject operation" >&2\n'
        "  exit 1\n"
        "fi\n"
        'cp "$FAKE_S3/$key" "$dst"\n'
    )
    script.chmod(0o755)
    bucket = tmp_path / "bucket"
    (bucket / "churn").mkdir(parents=True)
    (bucket / "churn" / "v3.joblib").write_bytes(b"weights")
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_S3": str(bucket)}


def run_fetch(model: ModelSettings, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    # The script writes to /model; run it with that path pointing into tmp_path.
    script = aws_model.fetch_script(model).replace("/model", str(tmp_path / "model"))
    (tmp_path / "model").mkdir(exist_ok=True)
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)


def test_the_fetch_copies_and_verifies_the_model(fake_aws, tmp_path):
    model = ModelSettings(
        uri="s3://b/churn/v3.joblib", bucket="b", key="churn/v3.joblib", sha256=SHA
    )
    done = run_fetch(model, fake_aws, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model" / "v3.joblib").read_bytes() == b"weights"
    assert "model-fetch: sha256 verified" in done.stdout


def test_a_missing_object_fails_the_fetch_with_a_line_that_says_so(fake_aws, tmp_path):
    model = ModelSettings(uri="s3://b/churn/v4.joblib", bucket="b", key="churn/v4.joblib")
    done = run_fetch(model, fake_aws, tmp_path)
    assert done.returncode == 1
    assert (
        "model-fetch: FAILED: could not copy s3://b/churn/v4.joblib (no such object, or the task "
        "role may not read it); the app will not start"
    ) in done.stderr


def test_a_different_sha256_fails_the_fetch_naming_both_digests(fake_aws, tmp_path):
    wrong = "f" * 64
    model = ModelSettings(
        uri="s3://b/churn/v3.joblib", bucket="b", key="churn/v3.joblib", sha256=wrong
    )
    done = run_fetch(model, fake_aws, tmp_path)
    assert done.returncode == 1
    assert (
        f"model-fetch: FAILED: sha256 of s3://b/churn/v3.joblib is {SHA}, not modelSha256 "
        f"{wrong}; the app will not start"
    ) in done.stderr


def test_fake_account_is_what_the_arns_use():
    # The policy's ARNs carry no account (S3 ARNs never do); the role's does.
    r = render(OBJECT)
    assert fakes.ACCOUNT in role(r, "task").outputs["arn"]
    assert fakes.ACCOUNT not in r.one(POLICY).inputs["policy"]
