"""The policy pack's config for one stack, from the same files the program reads.

    python -m policy.stack_config dev > policy-config.json
    pulumi preview --stack dev --policy-pack policy/ --policy-pack-config policy-config.json

A policy sees resources, not the stack's config; the two rules that depend on it get it here:
`metricsPort` (which port must stay private) and `deletionProtection` (whether the load balancer
and the cluster must carry it). Defaults from Pulumi.yaml, then Pulumi.<stack>.yaml.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from infra.stackfiles import stack_config

NAMESPACE = "echo-service:"


def policy_config(stack: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `--policy-pack-config` document for `stack` (overrides as in `stack_config`)."""
    config = stack_config(stack, overrides)
    return {
        "metrics-never-public": {"metricsPort": int(config[NAMESPACE + "metricsPort"])},
        "deletion-protection": {
            "deletionProtection": config[NAMESPACE + "deletionProtection"] == "true"
        },
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m policy.stack_config STACK", file=sys.stderr)
        return 2
    print(json.dumps(policy_config(argv[0]), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
