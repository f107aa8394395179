"""A broken stack file gets one line naming the file and where, not a traceback."""

from __future__ import annotations

import functools
import shutil

import pytest

from infra import estimate
from infra.estimate import cli, stack
from infra.stackfiles import PROJECT_DIR, StackFileError, stack_config, stack_names

BROKEN = "config:\n  echo-service:cloud: aws\n   aws:region: us-east-1\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copy(PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.broken.yaml").write_text(BROKEN)
    (tmp_path / "Pulumi.list.yaml").write_text("- config\n")
    monkeypatch.setattr(stack, "stack_config", functools.partial(stack_config, root=tmp_path))
    monkeypatch.setattr(cli, "stack_names", lambda: stack_names(tmp_path))
    return tmp_path


def test_malformed_yaml_is_one_line_naming_the_file_and_the_line(project):
    with pytest.raises(StackFileError) as caught:
        stack_config("broken", root=project)
    message = str(caught.value)
    assert message.startswith("Pulumi.broken.yaml is not valid YAML (line 3, column")
    assert "\n" not in message


def test_a_stack_file_that_is_not_a_mapping_is_refused_in_one_line(project):
    with pytest.raises(StackFileError, match="must be a mapping with a `config:` mapping"):
        stack_config("list", root=project)


def test_estimate_prints_one_line_for_a_malformed_stack_file(project, capsys):
    assert estimate.main(["broken"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Pulumi.broken.yaml is not valid YAML (line 3" in lines[0]
