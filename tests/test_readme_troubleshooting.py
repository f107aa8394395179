"""The README's and the docs' own commands work as written: the local stack's config outside make,
no history."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = "\n".join([README, *(p.read_text() for p in sorted(ROOT.glob("docs/**/*.md")))])
MAKEFILE = (ROOT / "Makefile").read_text()


def test_the_readme_tells_no_history():
    # "issue 3's target", "the original answered ...": history belongs in commits.
    history = r"\bissues? #?\d+|\bthe original\b|\boriginally\b|\bused before\b"
    found = re.findall(rf".{{0,30}}(?:{history}).{{0,30}}", DOCS, re.I)
    assert not found, found


def test_the_local_port_command_reaches_the_local_stacks_backend(tmp_path):
    lines = [line for line in DOCS.splitlines() if "pulumi config set localPort" in line]
    assert len(lines) == 1, lines
    command = lines[0].strip()
    # The variables the Makefile sets for the local stack, so `pulumi` finds the same state.
    assert "export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state" in MAKEFILE
    assert "export PULUMI_CONFIG_PASSPHRASE ?=" in MAKEFILE
    pulumi = tmp_path / "pulumi"
    pulumi.write_text(
        "#!/bin/sh\n"
        f'echo "$PULUMI_BACKEND_URL" > "{tmp_path}/backend"\n'
        f'echo "${{PULUMI_CONFIG_PASSPHRASE+set}}:$PULUMI_CONFIG_PASSPHRASE" > "{tmp_path}/pass"\n'
        f'echo "$@" > "{tmp_path}/args"\n'
    )
    pulumi.chmod(pulumi.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env["PATH"] = f"{tmp_path}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["/bin/bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "backend").read_text().strip() == f"file://{ROOT}/.pulumi-state"
    assert (tmp_path / "pass").read_text().strip() == "set:"  # set, and empty
    assert (tmp_path / "args").read_text().split() == [
        "config",
        "set",
        "localPort",
        "8081",
        "--stack",
        "local",
    ]
