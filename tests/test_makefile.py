"""The Makefile as a new user meets it: pipeable output, and one line when set-up is missing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = (ROOT / "Makefile").read_text()
# The targets that run the project's Python (or its tools) from the virtualenv.
VENV_TARGETS = ("test", "image-test", "lint", "format", "serve", "smoke", "estimate", "bench")


def make(*args: str, venv: str) -> subprocess.CompletedProcess:
    """`make` as a user types it: no -s, a clean environment, the given virtualenv."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    return subprocess.run(
        ["/usr/bin/make", "--no-print-directory", *args, f"VENV={venv}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_estimate_json_is_only_json_so_it_pipes_into_json_tool():
    result = make("estimate", "STACK=gcp", "ARGS=--json", venv=sys.prefix)
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)  # what `| python -m json.tool` needs
    assert (parsed["stack"], parsed["cloud"]) == ("gcp", "gcp")
    tool = subprocess.run(
        [sys.executable, "-m", "json.tool"], input=result.stdout, capture_output=True, text=True
    )
    assert tool.returncode == 0, tool.stderr


@pytest.mark.parametrize("target", VENV_TARGETS)
def test_targets_without_make_install_say_to_run_it_in_one_line(tmp_path, target):
    result = make(target, venv=str(tmp_path / "no-venv"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"error: no virtualenv in {tmp_path / 'no-venv'}: run 'make install' first"
    assert len(lines) == 2 and re.match(r"make(\[\d+\])?: \*\*\*", lines[1]), result.stderr
    assert "No such file" not in result.stderr


def test_every_phony_target_has_a_recipe():
    phony = re.search(r"^\.PHONY: (.*)$", MAKEFILE, flags=re.M).group(1).split()
    defined = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, flags=re.M))
    assert set(phony) <= defined, set(phony) - defined
    for target in phony:
        body = re.search(rf"^{target}:.*\n((?:\t.*\n)*)", MAKEFILE, flags=re.M).group(1)
        assert body.strip(), f"{target} has no recipe"


def test_no_recipe_line_is_echoed():
    assert not re.findall(r"^\t(?!@).*", MAKEFILE, flags=re.M)


def test_make_bench_runs_the_benchmark_with_the_virtualenvs_python():
    result = make("-n", "bench", "ARGS=--rounds 1", venv=".venv")
    assert result.stdout.strip().splitlines()[-1] == ".venv/bin/python bench/bench.py --rounds 1"
