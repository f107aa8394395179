"""The command line: `python -m infra.estimate STACK [--json] [--requests-per-month N ...]`."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence

from infra.estimate.aws import LAMBDA_MAX_MS, LAMBDA_MEMORY_MB
from infra.estimate.items import DEFAULT_MEMORY_MB, DEFAULT_MS_PER_REQUEST, EstimateError, Traffic
from infra.estimate.report import estimate, render
from infra.estimate.stack import load_stack_settings
from infra.stackfiles import stack_names


def _non_negative_count(text: str) -> int:
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of requests, not {text!r}") from None
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise argparse.ArgumentTypeError(
            f"must be a whole number of requests, 0 or more, not {text!r}"
        )
    return int(value)


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number of milliseconds, not {text!r}"
        ) from None
    if not math.isfinite(value) or not 0 < value <= LAMBDA_MAX_MS:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {LAMBDA_MAX_MS} ms (Lambda's 15-minute limit), "
            f"not {text!r}"
        )
    return value


def _memory_mb(text: str) -> int:
    low, high = LAMBDA_MEMORY_MB
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of MB, not {text!r}") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(
            f"must be from {low} to {high} MB (Lambda's memory range), not {text!r}"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.estimate",
        description="Monthly cost of a stack at public on-demand list prices, offline, from the "
        "same settings `pulumi up` uses. Free tiers are noted, not subtracted.",
    )
    parser.add_argument("stack", metavar="STACK", help="a stack with a Pulumi.<STACK>.yaml here")
    parser.add_argument("--json", action="store_true", help="print the estimate as JSON")
    parser.add_argument(
        "--requests-per-month",
        type=_non_negative_count,
        metavar="N",
        help="also price the serverless alternative (Lambda or Cloud Run) at N requests/month, "
        "and the break-even traffic",
    )
    parser.add_argument(
        "--ms-per-request",
        type=_milliseconds,
        metavar="MS",
        help=f"serverless: time to serve one request (default {DEFAULT_MS_PER_REQUEST:g})",
    )
    parser.add_argument(
        "--memory-mb",
        type=_memory_mb,
        metavar="MB",
        help=f"serverless: memory per function or instance (default {DEFAULT_MEMORY_MB})",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status (0, or 2 when nothing could be priced)."""
    parser = _parser()
    args = parser.parse_args(argv)
    known = stack_names()
    if args.stack not in known:
        parser.error(
            f"argument STACK: no stack file Pulumi.{args.stack}.yaml; the stacks here are: "
            f"{', '.join(known)}"
        )
    traffic = None
    if args.requests_per_month is None:
        for flag, value in (
            ("--ms-per-request", args.ms_per_request),
            ("--memory-mb", args.memory_mb),
        ):
            if value is not None:
                parser.error(f"argument {flag}: only applies with --requests-per-month")
    else:
        traffic = Traffic(
            args.requests_per_month,
            DEFAULT_MS_PER_REQUEST if args.ms_per_request is None else args.ms_per_request,
            DEFAULT_MEMORY_MB if args.memory_mb is None else args.memory_mb,
        )
    try:
        result = estimate(load_stack_settings(args.stack), traffic=traffic)
    except EstimateError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(result.as_dict(), indent=2) if args.json else render(result), flush=True)
    except BrokenPipeError:
        # Piped into `head` and the like: the reader has what it wanted; no traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
