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
    """
    known = stack_names(root)
    if stack not in known:
        raise UnknownStackError(stack, known)
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())
    config: dict[str, str] = {}
    for key, spec in (project.get("config") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            config[f"{PROJECT}:{key}"] = as_config_string(spec["default"])
    stack_file = root / f"Pulumi.{stack}.yaml"
    stack_values = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    for key, value in {**stack_values, **(overrides or {})}.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        config[full_key] = as_config_string(value)
    return config
