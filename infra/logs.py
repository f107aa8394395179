"""Follow a deployed stack's logs: `python -m infra.logs --stack STACK` (`make logs STACK=...`).

Reads the stack's outputs with the Pulumi CLI and runs the one command that follows that target's
logs, with the output it needs:

- aws (a `logGroup` output): `aws logs tail <logGroup> --follow --region <region>`;
- gcp (a `kubeconfig` output): `kubectl logs -n <namespace> -l <selector> -f ...` with the
  stack's kubeconfig in a private temporary file, removed afterwards;
- local (a `container` output): `docker logs -f <container>`.

A missing CLI is one line naming it and where to get it (exit status 2), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infra.gcp.cluster import AUTH_PLUGIN, AUTH_PLUGIN_INSTALL_HINT
from infra.gcp.labels import k8s_label_value
from infra.settings import PROJECT

EXIT_USAGE = 2
INSTALL = {
    "pulumi": "the Pulumi CLI is not installed (no `pulumi` on PATH): install it from "
    "https://www.pulumi.com/docs/install/",
    "aws": "the AWS CLI is not installed (no `aws` on PATH): install it from "
    "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html",
    "kubectl": "kubectl is not installed (no `kubectl` on PATH): install it with "
    "`gcloud components install kubectl` (https://kubernetes.io/docs/tasks/tools/)",
    "docker": "Docker is not installed (no `docker` on PATH): install Docker Desktop or Docker "
    "Engine (https://docs.docker.com/get-docker/)",
    AUTH_PLUGIN: f"{AUTH_PLUGIN} is not installed (no `{AUTH_PLUGIN}` on PATH). "
    f"{AUTH_PLUGIN_INSTALL_HINT}",
}
# kubectl refuses to follow more Pods than this at once (its default is 5); maxReplicas is at
# most 100.
MAX_LOG_REQUESTS = 100


class LogsError(Exception):
    """Cannot follow the logs: shown as one line, exit status 2."""


@dataclass(frozen=True)
class Follow:
    """The command that follows a stack's logs, and a kubeconfig to write first (gcp)."""

    command: list[str]
    kubeconfig: str = ""


def stack_outputs(stack: str, run: Callable[..., subprocess.CompletedProcess]) -> dict[str, Any]:
    """The stack's outputs, secrets shown (the gcp kubeconfig is one), read with the Pulumi CLI."""
    command = ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack]
    try:
        done = run(command, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError:
        raise LogsError(INSTALL["pulumi"]) from None
    except subprocess.TimeoutExpired:
        raise LogsError(f"`{' '.join(command)}` did not finish within 120 s") from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {done.returncode}"
        raise LogsError(f"cannot read the outputs of stack '{stack}': {detail}")
    try:
        outputs = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        raise LogsError(f"the outputs of stack '{stack}' are not JSON") from None
    if not outputs:
        raise LogsError(f"stack '{stack}' has no outputs: deploy it first (`make up`)")
    return outputs


def follow_command(stack: str, outputs: Mapping[str, Any]) -> Follow:
    """The command that follows the logs of the target these outputs belong to."""
    if outputs.get("logGroup"):
        return Follow(
            ["aws", "logs", "tail", outputs["logGroup"], "--follow"]
            + (["--region", outputs["region"]] if outputs.get("region") else [])
        )
    if outputs.get("kubeconfig") and outputs.get("namespace"):
        # The Deployment's Pods carry this label (infra/gcp/workload.py); unique per stack.
        instance = k8s_label_value(f"{PROJECT}-{stack}")
        config = outputs["kubeconfig"]
        return Follow(
            [
                "kubectl",
                "logs",
                "-n",
                outputs["namespace"],
                "-l",
                f"app.kubernetes.io/instance={instance}",
                "-f",
                "--prefix",
                "--all-containers=true",
                f"--max-log-requests={MAX_LOG_REQUESTS}",
            ],
            config if isinstance(config, str) else json.dumps(config),
        )
    if outputs.get("container"):
        return Follow(["docker", "logs", "-f", outputs["container"]])
    raise LogsError(
        f"stack '{stack}' has none of the outputs logs are followed by (logGroup, kubeconfig, "
        "container): deploy it first (`make up`)"
    )


def follow(
    stack: str,
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run,
    which: Callable[[str], str | None] = shutil.which,
) -> int:
    """Follows the stack's logs until interrupted; returns the log command's exit status."""
    what = follow_command(stack, stack_outputs(stack, run))
    tool = what.command[0]
    if which(tool) is None:
        raise LogsError(INSTALL[tool])
    if not what.kubeconfig:
        return run(what.command, check=False).returncode
    if which(AUTH_PLUGIN) is None:
        raise LogsError(INSTALL[AUTH_PLUGIN])
    # The kubeconfig holds the cluster's address and CA; only this user may read it, and it is
    # removed when kubectl stops.
    handle, path = tempfile.mkstemp(prefix="kubeconfig-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(what.kubeconfig)
        return run([*what.command, "--kubeconfig", path], check=False).returncode
    finally:
        os.unlink(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs from the command line and returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.logs",
        description="Follow a deployed stack's logs (aws: CloudWatch Logs, gcp: the Pods, "
        "local: the container), with the cloud's own CLI.",
    )
    parser.add_argument("--stack", required=True, metavar="NAME", help="the Pulumi stack")
    args = parser.parse_args(argv)
    try:
        return follow(args.stack)
    except LogsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
