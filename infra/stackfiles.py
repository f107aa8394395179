"""Reads a stack's configuration from the project's files, the way the Pulumi CLI assembles it.

The CLI gives the program the defaults declared in `Pulumi.yaml`, overlaid with the stack's
`Pulumi.<stack>.yaml`. Tools that must see the same settings without the CLI (the cost estimate,
the tests' mocks harness) build that config here, once, and hand it to
`pulumi.runtime.set_all_config` before calling `infra.settings.load_settings`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from infra.settings import PROJECT

# The project directory: where Pulumi.yaml and the stack files live (and `pulumi up` runs).
PROJECT_DIR = Path(__file__).resolve().parent.parent


class UnknownStackError(LookupError):
    """Raised for a stack that has no `Pulumi.<stack>.yaml` in the project directory."""

    def __init__(self, stack: str, known: list[str]) -> None:
        self.stack = stack
        self.known = known
        super().__init__(
            f"no stack file Pulumi.{stack}.yaml in {PROJECT_DIR}; "
            f"the stacks here are: {', '.join(known) or '(none)'}"
        )


class StackFileError(ValueError):
    """Raised for a project or stack file that is not valid YAML or not a `config:` mapping."""


def _read_yaml(path: Path) -> dict[str, Any]:
    """A project or stack file as a mapping, or a one-line StackFileError saying where it breaks."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise StackFileError(f"{path.name} is not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict) or not isinstance(data.get("config") or {}, dict):
        raise StackFileError(f"{path.name} must be a mapping with a `config:` mapping in it")
    return data


def stack_names(root: Path = PROJECT_DIR) -> list[str]:
    """The stacks that have a `Pulumi.<stack>.yaml` in `root`, sorted."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in root.glob("Pulumi.*.yaml"))


def as_config_string(value: Any) -> str:
    """Config reaches a program as strings; objects and arrays as JSON, like the CLI sends them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def stack_config(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    root: Path = PROJECT_DIR,
) -> dict[str, str]:
    """The config the CLI gives the program: Pulumi.yaml defaults, the stack file, overrides.

    Args:
        stack: The stack name; `Pulumi.<stack>.yaml` must exist in `root`.
        overrides: Extra values on top of the stack file. Keys without a namespace are the
            project's own (`cpu` is `echo-service:cpu`); `aws:region` etc. are kept as given.
        root: The project directory.

    Returns:
        Full config keys (`echo-service:cpu`, `aws:region`) mapped to their string values.

    Raises:
        UnknownStackError: when `Pulumi.<stack>.yaml` does not exist, naming the stacks that do.
        StackFileError: when a file is not valid YAML, in one line naming the file and where.
    """
    known = stack_names(root)
    if stack not in known:
        raise UnknownStackError(stack, known)
    project = _read_yaml(root / "Pulumi.yaml")
    config: dict[str, str] = {}
    for key, spec in (project.get("config") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            config[f"{PROJECT}:{key}"] = as_config_string(spec["default"])
    stack_file = root / f"Pulumi.{stack}.yaml"
    stack_values = _read_yaml(stack_file).get("config") or {}
    for key, value in {**stack_values, **(overrides or {})}.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        config[full_key] = as_config_string(value)
    return config
