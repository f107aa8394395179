"""Builds the target the stack's settings choose and returns what the stack exports."""

from __future__ import annotations

import importlib
from typing import Protocol

import pulumi

from infra.settings import Settings

# cloud -> (module, ComponentResource class). Imported lazily: each provider SDK takes seconds to
# import, and a stack needs only its own.
TARGETS: dict[str, tuple[str, str]] = {
    "aws": ("infra.aws", "FargateService"),
    "gcp": ("infra.gcp", "GkeService"),
    "local": ("infra.local", "LocalService"),
}


class Target(Protocol):
    """What every target component offers the program."""

    exports: dict[str, pulumi.Input[object]]


def build(settings: Settings) -> dict[str, pulumi.Input[object]]:
    """Creates the chosen target's component and returns its stack exports (always `url`)."""
    module_name, class_name = TARGETS[settings.cloud]
    component_class = getattr(importlib.import_module(module_name), class_name)
    target: Target = component_class(settings.project, settings)
    return target.exports
