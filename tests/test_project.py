"""The project's front door: README, the docs, Makefile and CI agree with each other and with
Pulumi.yaml."""

from __future__ import annotations

import importlib.util
import os
import re
import stat
import subprocess
import sys
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


REQUIREMENTS = [ROOT / "requirements-dev.txt", *sorted(ROOT.glob("examples/*/requirements.txt"))]
"""Every requirements file: the tools' (which include the program's, the app's and iris's), and
each example's, whose packages a user appends to app/requirements.txt."""


def test_no_package_is_pinned_two_ways_across_the_requirements_files():
    from infra.pins import clashes

    assert clashes(REQUIREMENTS) == []


def test_two_pins_of_one_package_are_named_with_both_files(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "requirements.txt").write_text("granian==2.8.7\npyyaml==6.0.4\n")
    (tmp_path / "requirements-dev.txt").write_text(
        "-r app/requirements.txt\npytest==9.2.0\nPyYAML==6.0.3  # the tools'\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "infra.pins", "requirements-dev.txt"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: pyyaml is pinned two ways: ==6.0.4 in app/requirements.txt:2 and ==6.0.3 in "
        "requirements-dev.txt:3; pin one version in both files"
    )


@pytest.mark.parametrize(
    ("one", "other", "met"),
    [("2.13.0", "2.13.0+cpu", True), ("2.13.0+cpu", "2.13.0+cu128", False), ("1.0", "1.1", False)],
)
def test_a_local_build_meets_its_public_version_pin(one, other, met):
    from infra.pins import same_release

    assert same_release(one, other) is met
    assert same_release(other, one) is met


def test_make_install_checks_the_pins_before_pip_runs(tmp_path):
    """A fake virtualenv whose python logs its arguments and fails the pins check: pip never runs."""
    (tmp_path / "bin").mkdir()
    log = tmp_path / "calls"
    fake_tool(
        tmp_path / "bin",
        "python",
        f'echo "$*" >> {log}; [ "$2" = infra.pins ] && {{ echo "error: clash" >&2; exit 1; }}; exit 0',
    )
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(
        ["/usr/bin/make", "install", f"VENV={tmp_path}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "error: clash" in done.stderr
    assert log.read_text().splitlines() == [
        "-m infra.pins requirements-dev.txt docs/requirements.txt"
    ]


def test_the_installed_packages_are_the_pinned_ones():
    """What `make install` (and `make install-minilm`, once run) left in the virtualenv: a model's
    packages never moved a tool's pin (torch upgrading setuptools broke parliament's import)."""
    from importlib import metadata

    from packaging.specifiers import SpecifierSet

    from infra.pins import read_pins

    files = [ROOT / "requirements-dev.txt"]
    if importlib.util.find_spec("torch"):
        files.append(ROOT / "examples" / "minilm" / "requirements.txt")
    wrong = []
    for path in files:
        for pin in read_pins(path):
            installed = metadata.version(pin.name)
            if installed not in SpecifierSet(f"=={pin.version}"):
                wrong.append(f"{pin.where(ROOT)}: {pin.name}=={pin.version}, installed {installed}")
    assert wrong == []
