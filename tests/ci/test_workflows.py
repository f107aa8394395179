"""The GitHub Actions workflows, checked offline.

Each workflow is validated against GitHub's workflow schema (the copy check-jsonschema vendors);
every action is pinned by a full commit SHA whose tag and inputs are recorded in
tests/ci/pinned_actions.yaml (read from the action's action.yml at that commit), and every
`with:` key is an input that action declares. Then what the workflows do: tests on every pull
request, a preview per cloud stack with the policy pack and the diff commented, `pulumi up` and
the smoke check on main; OIDC tokens only where a cloud is reached.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = yaml.safe_load((Path(__file__).parent / "pinned_actions.yaml").read_text())
FILES = sorted(WORKFLOWS.glob("*.yml"))
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S+))?\s*$")
SHA = re.compile(r"^[0-9a-f]{40}$")
# GitHub's workflow schema (SchemaStore's), as check-jsonschema vendors it: no network.
SCHEMA_CHECK = [
    sys.executable,
    "-m",
    "check_jsonschema",
    "--builtin-schema",
    "vendor.github-workflows",
]


def load(name: str) -> dict[str, Any]:
    # PyYAML reads the bare key `on` as True (YAML 1.1); GitHub reads it as "on".
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True)
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps") or []


def runs(job: dict[str, Any]) -> list[str]:
    return [s["run"] for s in steps(job) if "run" in s]


def action(step: dict[str, Any]) -> str:
    return step.get("uses", "").split("@")[0]


def test_the_workflows_are_there():
    assert {f.name for f in FILES} == {"test.yml", "pr.yml", "deploy.yml"}


def test_every_workflow_meets_githubs_workflow_schema():
    result = subprocess.run(
        [*SCHEMA_CHECK, *map(str, FILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_refuses_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    result = subprocess.run(
        [*SCHEMA_CHECK, str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_version(path: Path):
    found = 0
    for line in path.read_text().splitlines():
        match = USES.match(line)
        if not match:
            assert "uses:" not in line, f"{path.name}: unparsed `uses:` line {line!r}"
            continue
        found += 1
        ref = match["ref"]
        name, _, sha = ref.partition("@")
        assert SHA.match(sha), f"{path.name}: {name} is pinned by {sha!r}, not a commit SHA"
        assert ref in PINNED, f"{path.name}: {ref} has no row in tests/ci/pinned_actions.yaml"
        assert match["comment"] == PINNED[ref]["version"], f"{path.name}: {ref}'s comment"
    assert found


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_with_key_is_an_input_the_action_declares(path: Path):
    for job_name, job in load(path.name)["jobs"].items():
        for step in steps(job):
            if "uses" not in step:
                continue
            pinned = PINNED[step["uses"]]
            given = set(step.get("with") or {})
            assert given <= set(pinned["inputs"]), (job_name, given - set(pinned["inputs"]))
            assert set(pinned["required"]) <= given, (job_name, step["uses"])


def test_pull_requests_run_the_tests_then_preview_each_cloud_stack_with_the_policy_pack():
    wf = load("pr.yml")
    assert set(wf["on"]) == {"pull_request"}
    assert wf["permissions"] == {"contents": "read"}
    assert runs(wf["jobs"]["test"]) == ["make install", "make lint", "make test"]
    for stack, auth in (("dev", "aws-actions/configure-aws-credentials"),
                        ("gcp", "google-github-actions/auth")):  # fmt: skip
        job = wf["jobs"][f"preview-{stack}"]
        assert job["needs"] == "test"
        assert job["permissions"] == {
            "id-token": "write",
            "contents": "read",
            "pull-requests": "write",
        }
        assert "head.repo.full_name == github.repository" in job["if"]
        assert "PREVIEW" in job["if"]
        used = [action(s) for s in steps(job)]
        assert used.index(auth) < used.index("pulumi/actions")
        pulumi = next(s for s in steps(job) if action(s) == "pulumi/actions")["with"]
        assert pulumi["command"] == "preview"
        assert pulumi["stack-name"] == stack
        assert pulumi["comment-on-pr"] is True
        assert pulumi["policyPacks"] == "policy/"
        assert f"python -m policy.stack_config {stack} >" in " ".join(runs(job))
        credentials = next(s for s in steps(job) if action(s) == auth)["with"]
        assert "PREVIEW" in str(credentials) and "DEPLOY" not in str(credentials)


def test_main_deploys_each_cloud_stack_then_smoke_checks_its_url():
    wf = load("deploy.yml")
    assert wf["on"] == {"push": {"branches": ["main"]}}
    assert wf["permissions"] == {"contents": "read"}
    assert runs(wf["jobs"]["test"]) == ["make install", "make lint", "make test"]
    for stack in ("dev", "gcp"):
        job = wf["jobs"][f"deploy-{stack}"]
        assert job["needs"] == "test"
        assert job["permissions"] == {"id-token": "write", "contents": "read"}
        assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
        used = [action(s) for s in steps(job)]
        up = used.index("pulumi/actions")
        pulumi = steps(job)[up]["with"]
        assert (pulumi["command"], pulumi["stack-name"]) == ("up", stack)
        assert pulumi["policyPacks"] == "policy/"
        assert steps(job)[up + 1]["run"] == f"make smoke STACK={stack}"
        assert "DEPLOY" in str(steps(job)[up - 1]["with"])


def test_no_long_lived_cloud_key_is_read():
    for path in FILES:
        text = path.read_text()
        for key in ("aws-access-key-id", "aws-secret-access-key", "credentials_json"):
            assert key not in text, f"{path.name} reads {key}"


def test_what_the_workflows_name_exists():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("install", "lint", "test", "smoke"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert (ROOT / "policy" / "PulumiPolicy.yaml").is_file()
    for stack in ("dev", "gcp"):
        assert (ROOT / f"Pulumi.{stack}.yaml").is_file()
    # The CLI the workflows install is the SDK's version (they are released together).
    requirements = (ROOT / "requirements.txt").read_text()
    for name in ("pr.yml", "deploy.yml"):
        version = load(name)["env"]["PULUMI_VERSION"]
        assert f"pulumi=={version}\n" in requirements
