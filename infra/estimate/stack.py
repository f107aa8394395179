"""The settings `pulumi up` would use for a stack, read without the Pulumi CLI."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pulumi

from infra.estimate.items import EstimateError
from infra.settings import GCP_PROJECT_ENV, PROJECT, Settings, load_settings
from infra.stackfiles import StackFileError, UnknownStackError, stack_config

# gcp:project does not change a price, and an estimate must work before the user has a project:
# the loader gets this placeholder only here (the program itself still refuses to run without
# a real one).
ESTIMATE_PLACEHOLDER_PROJECT = "estimate-no-project-needed"


def load_stack_settings(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """The validated settings `pulumi up` would use for `stack`, read without the Pulumi CLI.

    Args:
        stack: A stack with a `Pulumi.<stack>.yaml` in the project directory.
        overrides: Config on top of the stack file (`{"cpu": 512, "aws:region": "eu-west-1"}`),
            so callers and tests can vary a stack without writing files.
        env: The environment the providers' fallbacks are read from (AWS_REGION,
            GOOGLE_CLOUD_PROJECT); defaults to `os.environ`.

    Raises:
        EstimateError: for an unknown stack (naming the ones that exist) or invalid settings
            (with the program's own message naming each bad key).
    """
    try:
        config = stack_config(stack, overrides)
    except (UnknownStackError, StackFileError) as err:
        raise EstimateError(str(err)) from None
    env = dict(os.environ if env is None else env)
    if not config.get("gcp:project") and not any(env.get(n, "").strip() for n in GCP_PROJECT_ENV):
        env[GCP_PROJECT_ENV[0]] = ESTIMATE_PLACEHOLDER_PROJECT
    pulumi.runtime.set_all_config(config)
    try:
        return load_settings(pulumi.Config(PROJECT), stack=stack, env=env)
    except pulumi.RunError as err:
        raise EstimateError(str(err)) from None
