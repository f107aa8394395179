"""Checks a live endpoint's contract, for any stack or any address.

    python -m infra.smoke http://localhost:8080       # any address
    python -m infra.smoke --stack dev                 # the url output of a stack (`make smoke`)

The checks: `GET /healthz` answers 200; `GET /predict?msg=...` and `POST /predict` with the JSON
body `{"msg": ...}` echo a non-ASCII message as `{"response": ..., "success": true}`; a request
without `msg` gets a 4xx JSON answer with `"success": false`. A fresh load balancer or container
takes a while to answer, so each check is retried with backoff until it passes or the overall
`--timeout` runs out; every check is still tried once after that, so the report is complete.

Exit status: 0 when every check passed, 1 when one failed, 2 when the smoke could not start (bad
arguments, no Pulumi CLI, no `url` output). Standard library only: it runs before `make install`.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import math
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

# A new ALB registers its first targets in one to two minutes; a local container is up in seconds.
DEFAULT_TIMEOUT = 180.0
# One request's limit; a model's first answer after a cold start can be slow.
REQUEST_TIMEOUT = 10.0
MIN_REQUEST_TIMEOUT = 2.0
# Backoff between attempts of one check: 0.25 s, doubling, at most 5 s.
BACKOFF_FIRST = 0.25
BACKOFF_MAX = 5.0
# No answer, a 5xx (a load balancer with no healthy target yet) or a 429 may pass later and is
# retried until the timeout. A wrong answer from a running endpoint will not fix itself: it gets
# this many attempts (a rollout may still be replacing an old version) and then fails.
WRONG_ANSWER_ATTEMPTS = 3
# How much of an answer is read, and shown when it is wrong.
MAX_BODY_BYTES = 64 * 1024
EXCERPT_CHARS = 200
# Non-ASCII, a space and an ampersand: breaks any step that mangles encoding or query strings.
MESSAGE = "Héllo wörld ✓ 你好 & co"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PULUMI_INSTALL_URL = "https://www.pulumi.com/docs/install/"


@dataclass(frozen=True)
class Answer:
    """What one request got: a status and body, or why there was none."""

    status: int | None = None
    body: str = ""
    error: str = ""


@dataclass(frozen=True)
class Check:
    """One request and what its answer must be.

    Attributes:
        name: How the check is shown, e.g. `GET /healthz`.
        method: The HTTP method.
        path: Path and query, appended to the endpoint's URL.
        body: A JSON document to send, or None.
        verify: Returns None when the answer is right, else what is wrong with it.
    """

    name: str
    method: str
    path: str
    body: Any
    verify: Callable[[Answer], str | None]


@dataclass(frozen=True)
class Result:
    """The outcome of one check after its retries."""

    check: Check
    problem: str | None
    attempts: int
    seconds: float
    status: int | None

    @property
    def passed(self) -> bool:
        return self.problem is None


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "...")


def _status_problem(answer: Answer, expected: str, ok: Callable[[int], bool]) -> str | None:
    if answer.status is None:
        return answer.error
    if not ok(answer.status):
        return f"status {answer.status}, expected {expected}; body {_excerpt(answer.body)}"
    return None


def _json(answer: Answer) -> Any:
    try:
        return json.loads(answer.body)
    except ValueError:
        return None


def expect_status_200(answer: Answer) -> str | None:
    """The health check: any body, status 200."""
    return _status_problem(answer, "200", lambda s: s == 200)


def expect_echo(message: str) -> Callable[[Answer], str | None]:
    """A prediction: 200 and a JSON object with `response` == message and `success` true."""

    def verify(answer: Answer) -> str | None:
        problem = _status_problem(answer, "200", lambda s: s == 200)
        if problem:
            return problem
        data = _json(answer)
        if not (
            isinstance(data, dict)
            and data.get("response") == message
            and data.get("success") is True
        ):
            wanted = json.dumps({"response": message, "success": True}, ensure_ascii=False)
            return f"expected the JSON {wanted}; got {_excerpt(answer.body)}"
        return None

    return verify


def expect_bad_request(answer: Answer) -> str | None:
    """A bad request: a 4xx status and a JSON object with `success` false."""
    problem = _status_problem(answer, "a 4xx", lambda s: 400 <= s < 500)
    if problem:
        return problem
    data = _json(answer)
    if not (isinstance(data, dict) and data.get("success") is False):
        return f'expected a JSON error {{"success": false, ...}}; got {_excerpt(answer.body)}'
    return None


def contract_checks(message: str = MESSAGE) -> list[Check]:
    """The endpoint's contract (see DESIGN.md), as checks to run in order."""
    query = urllib.parse.urlencode({"msg": message})
    return [
        Check("GET /healthz", "GET", "/healthz", None, expect_status_200),
        Check(
            f"GET /predict?msg={message}", "GET", f"/predict?{query}", None, expect_echo(message)
        ),
        Check(
            f'POST /predict {{"msg": "{message}"}}',
            "POST",
            "/predict",
            {"msg": message},
            expect_echo(message),
        ),
        Check("GET /predict without msg", "GET", "/predict", None, expect_bad_request),
    ]


def _describe_error(error: BaseException, timeout: float) -> str:
    if isinstance(error, urllib.error.URLError) and isinstance(error.reason, BaseException):
        error = error.reason
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name ({error.strerror})"
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        return f"TLS error: {error}"
    if isinstance(error, urllib.error.URLError):
        return f"request failed: {error.reason}"
    return f"request failed: {type(error).__name__}: {error}"


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine (localhost or a loopback address)."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_opener(url: str) -> urllib.request.OpenerDirector:
    """An opener for the endpoint: proxies from the environment, except for this machine.

    urllib sends even `localhost` through HTTP_PROXY when NO_PROXY does not list it, and a
    corporate proxy cannot reach a laptop's loopback interface.
    """
    if is_loopback(url):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def fetch(opener: urllib.request.OpenerDirector, url: str, check: Check, timeout: float) -> Answer:
    """Sends one check's request and returns the answer, never raising for network errors."""
    headers = {"Accept": "application/json", "User-Agent": "echo-service-smoke"}
    data = None
    if check.body is not None:
        data = json.dumps(check.body, ensure_ascii=False).encode("utf-8")
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(
        url + check.path, data=data, headers=headers, method=check.method
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(MAX_BODY_BYTES)
            return Answer(response.status, body.decode("utf-8", "replace"))
    except urllib.error.HTTPError as error:  # a 4xx or 5xx answer: still an answer
        with error:
            body = error.read(MAX_BODY_BYTES)
        return Answer(error.code, body.decode("utf-8", "replace"))
    except (OSError, http.client.HTTPException, ValueError) as error:
        return Answer(error=_describe_error(error, timeout))


def is_transient(answer: Answer) -> bool:
    """Whether a failed answer may pass later: no answer yet, a 5xx, or throttling."""
    return answer.status is None or answer.status >= 500 or answer.status == 429


def run_checks(
    url: str,
    checks: Sequence[Check],
    timeout: float,
    out: TextIO,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Result]:
    """Runs the checks in order, each retried with backoff until it passes or gives up.

    A check gives up when the overall time runs out, or after `WRONG_ANSWER_ATTEMPTS` wrong
    answers from a running endpoint. Each check is tried at least once, so a report lists every
    check even when the first one used up the time.

    Args:
        url: The endpoint, without a trailing slash.
        checks: What to check.
        timeout: Seconds, overall, for every check to pass.
        out: Where progress goes, one line per check and per new reason to wait.
        clock: Monotonic seconds (tests may replace it).
        sleep: Waits between attempts (tests may replace it).

    Returns:
        One result per check.
    """
    opener = make_opener(url)
    deadline = clock() + timeout
    results = []
    for check in checks:
        started = clock()
        attempts, wrong, delay, shown = 0, 0, BACKOFF_FIRST, None
        while True:
            attempts += 1
            request_timeout = min(REQUEST_TIMEOUT, max(deadline - clock(), MIN_REQUEST_TIMEOUT))
            answer = fetch(opener, url, check, request_timeout)
            problem = check.verify(answer)
            wrong += problem is not None and not is_transient(answer)
            remaining = deadline - clock()
            if problem is None or remaining <= 0 or wrong >= WRONG_ANSWER_ATTEMPTS:
                break
            if problem != shown:
                why = (
                    f"retrying for up to {remaining:.0f} s"
                    if is_transient(answer)
                    else "retrying in case an old version is still answering"
                )
                print(f"  wait  {check.name}: {problem}; {why}", file=out)
                shown = problem
            sleep(min(delay, remaining))
            delay = min(delay * 2, BACKOFF_MAX)
        result = Result(check, problem, attempts, clock() - started, answer.status)
        if result.passed:
            print(f"  PASS  {check.name} -> {answer.status}", file=out)
        else:
            print(f"  FAIL  {check.name}: {problem}", file=out)
        out.flush()
        results.append(result)
    return results


def report(url: str, results: Sequence[Result], out: TextIO, err: TextIO) -> int:
    """Prints the summary and returns the exit status."""
    failed = [r for r in results if not r.passed]
    if not failed:
        print(f"smoke: all {len(results)} checks passed against {url}", file=out)
        return EXIT_OK
    print(f"smoke: {len(failed)} of {len(results)} checks failed against {url}:", file=err)
    for r in failed:
        tries = f"{r.attempts} attempt{'s' if r.attempts != 1 else ''} over {r.seconds:.1f} s"
        print(f"  - {r.check.name}: {r.problem} ({tries})", file=err)
    return EXIT_FAILED


def url_problem(url: str) -> str | None:
    """Why `url` cannot be smoke-tested, or None: it must be http(s)://host[:port][/path]."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as error:
        return f"{url!r} is not a valid URL ({error})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http:// or https:// URL with a host, e.g. http://localhost:8080"
    if parts.query or parts.fragment:
        return f"{url!r} must not have a query or fragment: give the endpoint's base URL"
    return None


class CliError(Exception):
    """The smoke cannot start: shown as one line, exit status 2."""


def stack_url(stack: str, run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> str:
    """The `url` output of a Pulumi stack, read with the Pulumi CLI.

    Raises:
        CliError: the CLI is missing, fails, or the stack has no url output.
    """
    command = ["pulumi", "stack", "output", "url", "--stack", stack]
    try:
        done = run(command, capture_output=True, text=True, timeout=120, check=False)
    except FileNotFoundError:
        raise CliError(
            "the Pulumi CLI is not installed (no `pulumi` on PATH): install it from "
            f"{PULUMI_INSTALL_URL}, or pass the endpoint's URL instead of --stack"
        ) from None
    except subprocess.TimeoutExpired:
        raise CliError(f"`{' '.join(command)}` did not finish within 120 s") from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {done.returncode}"
        raise CliError(f"cannot read the url output of stack '{stack}': {detail}")
    url = done.stdout.strip()
    if not url:
        raise CliError(f"stack '{stack}' has no url output: deploy it first (`make up`)")
    problem = url_problem(url)
    if problem:
        raise CliError(f"the url output of stack '{stack}': {problem}")
    return url


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds greater than 0")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parses the command line; exits with status 2 and a message naming the bad argument."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.smoke",
        description="Check a live echo-service endpoint: /healthz, GET and POST /predict, "
        "and a bad request. Exit status 0: all passed, 1: a check failed, 2: could not start.",
    )
    parser.add_argument(
        "url", nargs="?", metavar="URL", help="the endpoint's base URL, e.g. http://localhost:8080"
    )
    parser.add_argument(
        "--stack", metavar="NAME", help="read the URL from this stack's `url` output (Pulumi CLI)"
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long, overall, the checks may take to pass (default {DEFAULT_TIMEOUT:g})",
    )
    args = parser.parse_args(argv)
    if args.url is not None and args.stack is not None:
        parser.error("give either URL or --stack NAME, not both")
    if args.url is None and args.stack is None:
        parser.error("give the endpoint's URL (e.g. http://localhost:8080) or --stack NAME")
    if args.url is not None:
        problem = url_problem(args.url)
        if problem:
            parser.error(f"argument URL: {problem}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the smoke from the command line and returns the exit status."""
    args = parse_args(argv)
    try:
        url = args.url if args.url is not None else stack_url(args.stack)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    url = url.rstrip("/")
    print(f"smoke: checking {url} (retrying for up to {args.timeout:g} s)", flush=True)
    results = run_checks(url, contract_checks(), args.timeout, sys.stdout)
    return report(url, results, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
