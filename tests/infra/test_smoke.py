"""`python -m infra.smoke` against a real `python -m app` on loopback, and against wrong servers."""

from __future__ import annotations

import http.server
import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import smoke
from tests.app_process import Server, free_port

ROOT = Path(__file__).resolve().parents[2]


def _env_without_proxies() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `python -m app` (one worker) on a free loopback port."""
    server = Server(tmp_path_factory.mktemp("app"), {"WEB_CONCURRENCY": "1"}).wait_ready()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


class _Wrong(http.server.BaseHTTPRequestHandler):
    """Healthy, but /predict echoes the wrong thing and errors are HTML."""

    def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            self._send(200, "ok", "text/plain")
        elif self.path.startswith("/predict?"):
            self._send(200, json.dumps({"response": "something else", "success": True}))
        else:
            self._send(400, "<html><body>Bad Request</body></html>", "text/html")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send(200, json.dumps({"response": "Hello world", "success": True}))

    def log_message(self, *args):
        pass


class _Failing(_Wrong):
    """A load balancer with no healthy target yet: 503 for everything."""

    def do_GET(self):
        self._send(503, "<html>503 Service Temporarily Unavailable</html>", "text/html")


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def wrong_url() -> Iterator[str]:
    yield from _serve(_Wrong)


@pytest.fixture
def failing_url() -> Iterator[str]:
    yield from _serve(_Failing)


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(smoke, "BACKOFF_FIRST", 0.01)
    monkeypatch.setattr(smoke, "BACKOFF_MAX", 0.05)


def test_passes_against_the_real_app(app_url, capsys):
    assert smoke.main([app_url, "--timeout", "10"]) == 0
    out = capsys.readouterr().out
    assert out.count("  PASS  ") == 4
    assert "GET /healthz -> 200" in out
    assert f"all 4 checks passed against {app_url}" in out


def test_module_entry_point_and_trailing_slash(app_url):
    done = subprocess.run(
        [sys.executable, "-m", "infra.smoke", app_url + "/", "--timeout", "10"],
        cwd=ROOT,
        env=_env_without_proxies(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all 4 checks passed" in done.stdout


def test_checks_cover_the_contract_with_a_non_ascii_message():
    checks = smoke.contract_checks()
    assert [(c.method, c.path.split("?")[0]) for c in checks] == [
        ("GET", "/healthz"),
        ("GET", "/predict"),
        ("POST", "/predict"),
        ("GET", "/predict"),
    ]
    assert (
        checks[1].path == "/predict?msg=H%C3%A9llo+w%C3%B6rld+%E2%9C%93+%E4%BD%A0%E5%A5%BD+%26+co"
    )
    assert checks[2].body == {"msg": "Héllo wörld ✓ 你好 & co"}
    assert checks[3].path == "/predict"


def test_loopback_ignores_a_proxy_in_the_environment(app_url, monkeypatch, capsys):
    # Nothing listens on port 9: a proxied request would fail.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert smoke.main([app_url.replace("127.0.0.1", "localhost"), "--timeout", "10"]) == 0


def test_fails_clearly_against_a_wrong_server(wrong_url, fast_backoff, capsys):
    started = time.monotonic()
    assert smoke.main([wrong_url, "--timeout", "5"]) == 1
    assert time.monotonic() - started < 3  # wrong answers are not retried until the timeout
    captured = capsys.readouterr()
    assert "  PASS  GET /healthz -> 200" in captured.out
    assert "3 of 4 checks failed" in captured.err
    err = captured.err
    assert "GET /predict?msg=Héllo wörld ✓ 你好 & co: expected the JSON" in err
    assert '\'{"response": "something else", "success": true}\'' in err
    assert 'POST /predict {"msg": "Héllo wörld ✓ 你好 & co"}: expected the JSON' in err
    assert "GET /predict without msg: expected a JSON error" in err
    assert "<html><body>Bad Request</body></html>" in err
    assert "(3 attempts over" in err


def test_retries_a_5xx_until_the_timeout(failing_url, fast_backoff, capsys):
    started = time.monotonic()
    assert smoke.main([failing_url, "--timeout", "0.6"]) == 1
    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 3
    captured = capsys.readouterr()
    assert "wait  GET /healthz: status 503, expected 200" in captured.out
    assert "GET /healthz: status 503, expected 200; body '<html>503 Service" in captured.err
    assert "4 of 4 checks failed" in captured.err


def test_fails_within_the_timeout_against_a_closed_port(capsys):
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    assert smoke.main([url, "--timeout", "0.5"]) == 1
    assert time.monotonic() - started < 3
    err = capsys.readouterr().err
    assert f"4 of 4 checks failed against {url}:" in err
    assert "GET /healthz: connection refused" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give the endpoint's URL"),
        (["localhost:8080"], "argument URL: 'localhost:8080' is not an http:// or https:// URL"),
        (["ftp://example.com"], "argument URL: 'ftp://example.com' is not an http://"),
        (["http://"], "argument URL: 'http://' is not an http://"),
        (["http://localhost:99999"], "argument URL: 'http://localhost:99999' is not a valid URL"),
        (["http://localhost:8080/?msg=x"], "must not have a query"),
        (["http://localhost:8080", "--stack", "local"], "not both"),
        (["http://localhost:8080", "--timeout", "0"], "argument --timeout: '0' is not a number"),
        (["http://localhost:8080", "--timeout", "soon"], "argument --timeout: 'soon' is not"),
        (["http://localhost:8080", "--timeout", "nan"], "argument --timeout: 'nan' is not"),
        (["http://localhost:8080", "--retries", "3"], "unrecognized arguments: --retries"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        smoke.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("usage: python -m infra.smoke")


def _fake_pulumi(directory: Path, script: str) -> None:
    path = directory / "pulumi"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_stack_without_the_pulumi_cli_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi there
    assert smoke.main(["--stack", "local"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: the Pulumi CLI is not installed")
    assert captured.err.count("\n") == 1
    assert captured.out == ""


def test_stack_reads_the_url_output_with_the_pulumi_cli(app_url, tmp_path, monkeypatch, capsys):
    _fake_pulumi(tmp_path, f'echo "$@" > "{tmp_path}/args"\necho {app_url}\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert smoke.main(["--stack", "local", "--timeout", "10"]) == 0
    assert (tmp_path / "args").read_text().split() == ["stack", "output", "url", "--stack", "local"]
    assert f"all 4 checks passed against {app_url}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (
            "echo 'error: no stack named '\"'\"'nope'\"'\"' found' >&2\nexit 255\n",
            "error: cannot read the url output of stack 'nope': error: no stack named 'nope' found",
        ),
        ("exit 0\n", "error: stack 'nope' has no url output: deploy it first"),
        (
            "echo not-a-url\n",
            "error: the url output of stack 'nope': 'not-a-url' is not an http://",
        ),
    ],
)
def test_stack_problems_are_one_line_errors(script, message, tmp_path, monkeypatch, capsys):
    _fake_pulumi(tmp_path, script)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert smoke.main(["--stack", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"response": "Hi", "success": True}, True),
        ({"response": "Hi", "success": True, "model": "echo"}, True),
        ({"response": "Hi", "success": "true"}, False),
        ({"response": "hi", "success": True}, False),
        (["Hi"], False),
    ],
)
def test_echo_check_wants_the_message_back_and_success_true(body, ok):
    answer = smoke.Answer(200, json.dumps(body))
    assert (smoke.expect_echo("Hi")(answer) is None) is ok
