"""`make logs` follows any stack's logs with the cloud's own CLI, from the stack's outputs; a
missing CLI is named in one line. Run through make with fake tools on PATH, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from infra import logs
from tests.test_project import ROOT

AWS_OUTPUTS = {
    "url": "http://echo-alb-123.us-east-1.elb.amazonaws.com",
    "logGroup": "echo-service-logs-4f2a1b7",
    "region": "us-east-1",
    "cluster": "c",
    "service": "s",
}
GCP_OUTPUTS = {
    "url": "http://34.120.0.10",
    "namespace": "echo-service-gcp",
    "kubeconfig": "apiVersion: v1\nkind: Config\n",
}
LOCAL_OUTPUTS = {"url": "http://localhost:8080", "container": "echo-service-local"}


def fake_tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def fake_pulumi(folder: Path, outputs: dict) -> None:
    (folder / "outputs.json").write_text(json.dumps(outputs))
    fake_tool(
        folder, "pulumi", f'echo "$@" > "{folder}/pulumi-args"; /bin/cat "{folder}/outputs.json"'
    )


def echoing(folder: Path, name: str) -> None:
    """A fake CLI that prints how it was called, and the kubeconfig's text when given one."""
    fake_tool(
        folder,
        name,
        f'echo "{name} $*"\n'
        'while [ $# -gt 0 ]; do [ "$1" = --kubeconfig ] && /bin/cat "$2" && /bin/ls -l "$2"; shift; done',
    )


def run_make_logs(stack: str, path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env["PATH"] = str(path)
    return subprocess.run(
        # The project's venv in CI (`make install`); this interpreter's elsewhere.
        ["/usr/bin/make", "-s", "logs", f"STACK={stack}", f"BIN={Path(sys.executable).parent}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_logs(stack: str, path: Path, monkeypatch, capfd) -> tuple[int, str, str]:
    """`python -m infra.logs --stack STACK` in this process, with only `path` on PATH: the same
    code as `make logs` runs, without a make and a Python start per case."""
    monkeypatch.setenv("PATH", str(path))
    status = logs.main(["--stack", stack])
    out, err = capfd.readouterr()
    return status, out, err


def test_make_logs_tails_an_aws_stacks_log_group_in_its_region(tmp_path):
    fake_pulumi(tmp_path, AWS_OUTPUTS)
    echoing(tmp_path, "aws")
    result = run_make_logs("dev", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "aws logs tail echo-service-logs-4f2a1b7 --follow --region us-east-1"
    )
    args = (tmp_path / "pulumi-args").read_text().split()
    assert args == ["stack", "output", "--json", "--show-secrets", "--stack", "dev"]


def test_gcp_stack_follows_the_pods_with_the_stacks_kubeconfig_then_removes_it(
    tmp_path, monkeypatch, capfd
):
    fake_pulumi(tmp_path, GCP_OUTPUTS)
    echoing(tmp_path, "kubectl")
    fake_tool(tmp_path, "gke-gcloud-auth-plugin", "exit 0")
    status, out, err = run_logs("gcp", tmp_path, monkeypatch, capfd)
    assert status == 0, err
    first, *rest = out.splitlines()
    assert first.startswith(
        "kubectl logs -n echo-service-gcp -l app.kubernetes.io/instance=echo-service-gcp -f "
    )
    kubeconfig = re.search(r"--kubeconfig (\S+)", first).group(1)
    assert "\n".join(rest[:2]) == GCP_OUTPUTS["kubeconfig"].strip()
    assert rest[2].startswith("-rw-------")  # only the user may read it
    assert not Path(kubeconfig).exists()


def test_local_stack_follows_its_container(tmp_path, monkeypatch, capfd):
    fake_pulumi(tmp_path, LOCAL_OUTPUTS)
    echoing(tmp_path, "docker")
    status, out, err = run_logs("local", tmp_path, monkeypatch, capfd)
    assert status == 0, err
    assert out.strip() == "docker logs -f echo-service-local"


@pytest.mark.parametrize(
    ("outputs", "missing", "words"),
    [
        (AWS_OUTPUTS, "aws", "the AWS CLI is not installed"),
        (GCP_OUTPUTS, "kubectl", "kubectl is not installed"),
        (LOCAL_OUTPUTS, "docker", "Docker is not installed"),
    ],
)
def test_a_missing_cli_is_named_in_one_line(tmp_path, monkeypatch, capfd, outputs, missing, words):
    fake_pulumi(tmp_path, outputs)
    status, _, err = run_logs("dev", tmp_path, monkeypatch, capfd)
    assert status == logs.EXIT_USAGE
    assert err.startswith(f"error: {words}") and len(err.strip().splitlines()) == 1, err


def test_gcp_without_the_auth_plugin_says_how_to_install_it(tmp_path, monkeypatch, capfd):
    fake_pulumi(tmp_path, GCP_OUTPUTS)
    echoing(tmp_path, "kubectl")
    status, _, err = run_logs("gcp", tmp_path, monkeypatch, capfd)
    assert status == logs.EXIT_USAGE
    assert "gcloud components install gke-gcloud-auth-plugin" in err.splitlines()[0]


def test_make_logs_without_the_pulumi_cli_says_so_in_one_line(tmp_path):
    result = run_make_logs("dev", tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: the Pulumi CLI is not installed"), result.stderr
    assert len(lines) == 2 and re.match(r"make(\[\d+\])?: \*\*\*", lines[1]), result.stderr


def test_a_stack_not_deployed_yet_says_deploy_it_first(tmp_path, monkeypatch, capfd):
    fake_pulumi(tmp_path, {})
    status, _, err = run_logs("dev", tmp_path, monkeypatch, capfd)
    assert status == logs.EXIT_USAGE
    assert "deploy it first (`make up`)" in err


def test_the_selector_is_the_label_the_gcp_pods_carry():
    from infra.settings import Settings
    from tests.infra.test_gcp import SELECTOR

    command = logs.follow_command("gcp", GCP_OUTPUTS).command
    selector = command[command.index("-l") + 1]
    assert selector == f"app.kubernetes.io/instance={SELECTOR['app.kubernetes.io/instance']}"
    assert Settings(stack="gcp").name == SELECTOR["app.kubernetes.io/instance"]
