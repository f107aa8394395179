"""The project's front door: README, the docs, Makefile and CI agree with each other and with
Pulumi.yaml."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MAKEFILE = (ROOT / "Makefile").read_text()
# The docs pages, and the README with them: every command any of them shows is checked.
PAGES = {p.relative_to(ROOT).as_posix(): p.read_text() for p in sorted(ROOT.glob("docs/**/*.md"))}
ALL_DOCS = "\n".join([README, *PAGES.values()])


def readme_config_table() -> dict[str, dict[str, str]]:
    """The stack settings reference as the site shows it (generated from Pulumi.yaml)."""
    from infra.docs import fill

    page = fill(PAGES["docs/reference/stack-settings.md"])
    rows = {}
    for line in page.splitlines():
        match = re.match(r"^\| `(\w+)` \| (\w+) \| `(.*?)` \| ([^|]+) \|", line)
        if match:
            key, type_, default, scope = match.groups()
            rows[key] = {"type": type_, "default": default, "scope": scope.strip()}
    return rows


def as_shown(default: object) -> str:
    if isinstance(default, bool):
        return str(default).lower()
    return {"[]": "[]", "": '""'}.get(str(default), str(default))


def test_readme_config_table_lists_every_key_with_its_type_and_default():
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    table = readme_config_table()
    assert set(table) == set(declared)
    for key, spec in declared.items():
        assert table[key]["type"] == spec["type"], key
        assert table[key]["default"] == as_shown(spec["default"]), key


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, flags=re.M))


def test_every_make_command_in_the_readme_and_docs_exists():
    used = set(re.findall(r"(?:^|`)make ([a-z][a-z-]*)", ALL_DOCS, flags=re.M))
    assert used, "the README shows no make command"
    assert {"install", "test", "up", "destroy", "docs"} <= used
    assert used <= make_targets(), used - make_targets()


def test_ci_runs_the_readmes_set_up_and_test_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make install" in README and "make install" in ci
    assert "make test" in README and "make test" in ci
    assert "make docs" in README and "make docs" in ci  # the site, built strictly
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "test.yml").read_text())
    steps = [s.get("run", "") for s in workflow["jobs"]["test"]["steps"]]
    assert "make install" in steps and "make test" in steps


def fake_tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def run_make(target: str, path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env["PATH"] = str(path)
    return subprocess.run(
        ["/usr/bin/make", "-s", target],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("target", ["up", "preview", "destroy"])
def test_make_up_without_the_pulumi_cli_says_so_in_one_line(tmp_path, target):
    result = run_make(target, tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and re.match(r"make(\[\d+\])?: \*\*\*", lines[1]), result.stderr
    assert "the Pulumi CLI is not installed" in lines[0]
    assert "get.pulumi.com" in lines[0]


def test_make_up_without_a_running_docker_engine_says_so_in_one_line(tmp_path):
    fake_tool(tmp_path, "pulumi", "exit 0")
    fake_tool(tmp_path, "docker", 'echo "Cannot connect to the Docker daemon" >&2; exit 1')
    result = run_make("up", tmp_path)
    assert result.returncode != 0
    assert "the Docker engine is not running" in result.stderr.splitlines()[0]


def test_make_up_without_docker_installed_says_so(tmp_path):
    fake_tool(tmp_path, "pulumi", "exit 0")
    result = run_make("up", tmp_path)
    assert result.returncode != 0
    assert "Docker is not installed" in result.stderr.splitlines()[0]


def test_readme_shows_the_refusal_exactly_as_the_program_words_it():
    import pulumi

    from infra.settings import load_settings
    from tests.harness import stack_config

    pulumi.runtime.set_all_config(stack_config("dev", {"memory": 4096}))
    with pytest.raises(pulumi.RunError) as caught:
        load_settings(stack="dev", env={})
    page = PAGES["docs/reference/stack-settings.md"]
    shown = re.search(r"```text\nerror: (.*?)\n```", page, flags=re.S).group(1)
    assert shown == str(caught.value)
