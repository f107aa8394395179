"""`python -m infra.smoke` against a real `python -m app` on loopback (the tests' echo, a model
that is not an echo, a model without an example), against wrong servers, and from `make smoke`."""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from infra import smoke
from tests.app_process import Server, free_port

ROOT = Path(__file__).resolve().parents[2]
MESSAGE = "Héllo wörld ✓ 你好 & co"
KEY = "s3cret-Key_42"


def _env_without_proxies() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if "proxy" not in k.lower() and k not in (smoke.API_KEY_ENV, "URL")
    }


@pytest.fixture(autouse=True)
def no_api_key_from_the_shell(monkeypatch):
    monkeypatch.delenv(smoke.API_KEY_ENV, raising=False)


def _app(tmp_path_factory: pytest.TempPathFactory, model: str) -> Iterator[str]:
    env = {"WEB_CONCURRENCY": "1", "MODEL_MODULE": f"tests.app.models.{model}"}
    server = Server(tmp_path_factory.mktemp(model), env).wait_ready()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `python -m app` (one worker) serving the tests' echo, on a free loopback port."""
    yield from _app(tmp_path_factory, "echo")


@pytest.fixture(scope="module")
def iris_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A model that is not an echo: a pydantic object in, {"species", "confidence"} out."""
    yield from _app(tmp_path_factory, "iris_like")


@pytest.fixture(scope="module")
def plain_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`predict(msg)` alone: no schema, no example, no version."""
    yield from _app(tmp_path_factory, "plain")


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(smoke, "BACKOFF_FIRST", 0.01)
    monkeypatch.setattr(smoke, "BACKOFF_MAX", 0.05)


# --- the real app -------------------------------------------------------------------------------


def test_passes_against_the_echo_and_round_trips_a_non_ascii_message(app_url, capsys):
    assert smoke.main([app_url, "--timeout", "10"]) == 0
    out = capsys.readouterr().out
    assert out.count("  PASS  ") == 8
    for line in (
        "  PASS  GET /healthz -> 200\n",
        "  PASS  GET /readyz -> 200\n",
        "  PASS  GET /openapi.json -> 200\n",
        '  input "Hi" (the model\'s example)\n',
        '  PASS  POST /predict {"msg": "Hi"} -> 200 "Hi" (X-Model-Version test-echo-1)\n',
        '  PASS  GET /predict?msg=Hi -> 200 "Hi" (X-Model-Version test-echo-1)\n',
        "  echo  the model answered its input back unchanged: taken for an echo",
        f'  PASS  GET /predict?msg={MESSAGE} -> 200 "{MESSAGE}"',
        f'  PASS  POST /predict {{"msg": "{MESSAGE}"}} -> 200 "{MESSAGE}"',
        "  PASS  GET /predict without msg -> 400",
        "smoke: model version test-echo-1\n",
        f"smoke: all 8 checks passed against {app_url}\n",
    ):
        assert line in out


def test_a_model_that_is_not_an_echo_passes_with_its_own_example(iris_url, capsys):
    assert smoke.main([iris_url, "--timeout", "10"]) == 0
    out = capsys.readouterr().out
    example = '{"petal_length": 1.4, "petal_width": 0.2}'
    answer = '{"species": "setosa", "confidence": 1.0}'
    assert f"  input {example} (the model's example)\n" in out
    assert f'  PASS  POST /predict {{"msg": {example}}} -> 200 {answer}' in out
    # A structured input goes in the query string JSON-encoded.
    assert (
        f'  PASS  GET /predict?msg={{"petal_length":1.4,"petal_width":0.2}} -> 200 {answer}' in out
    )
    assert "(X-Model-Version flowers-2.1)" in out
    assert "echo" not in out  # not asked to echo anything
    assert "smoke: model version flowers-2.1\n" in out
    assert f"smoke: all 6 checks passed against {iris_url}\n" in out


def test_input_replaces_the_example(iris_url, capsys):
    given = '{"petal_length": 5.5, "petal_width": 2.1}'
    assert smoke.main([iris_url, "--timeout", "10", "--input", given]) == 0
    out = capsys.readouterr().out
    assert f"  input {given} (--input)\n" in out
    assert 'GET /predict?msg={"petal_length":5.5,"petal_width":2.1} -> 200 {"species": "vir' in out
    assert out.count('{"species": "virginica", "confidence": 0.9}') == 2


def test_an_input_the_model_refuses_fails_with_its_422(iris_url, fast_backoff, capsys):
    assert smoke.main([iris_url, "--timeout", "10", "--input", "[1, 2]"]) == 1
    err = capsys.readouterr().err
    assert "2 of 6 checks failed" in err
    assert (
        'POST /predict {"msg": [1, 2]}: status 422, expected 200; body '
        '\'{"success": false, "error": "msg: Input should be an object"}\'' in err
    )
    assert "GET /predict?msg=[1,2]: status 422" in err


def test_a_model_that_takes_any_json_without_an_example_fails_saying_how_to_declare_one(
    plain_url, capsys
):
    assert smoke.main([plain_url, "--timeout", "10"]) == 1
    out, err = capsys.readouterr()
    assert "POST /predict {" not in out
    assert out.count("  PASS  ") == 4
    assert "  PASS  GET /predict without msg -> 400 (X-Model-Version sha256:" in out
    assert f"smoke: 1 of 5 checks failed against {plain_url}:" in err
    assert (
        "  - POST /predict: the model declares no example input, and none can be made from its "
        'schema {"description": "Any JSON value; from the query string, a string."}: declare one '
        "in app/model.py (Field(examples=[...]) on predict's msg) or give --input JSON" in err
    )


def test_a_model_without_an_example_is_sent_an_input_made_from_its_schema(tmp_path_factory, capsys):
    for url in _app(tmp_path_factory, "floats"):  # predict(msg: list[float]), no example
        assert smoke.main([url, "--timeout", "10"]) == 0
    out = capsys.readouterr().out
    assert "  input [1.0] (made from the model's schema: it declares no example)\n" in out
    assert '  PASS  POST /predict {"msg": [1.0]} -> 200 1.0' in out
    assert "  PASS  GET /predict?msg=[1.0] -> 200 1.0" in out


def test_a_model_that_fails_on_its_input_fails_at_once_with_the_reason(tmp_path_factory, capsys):
    started = time.monotonic()
    for url in _app(tmp_path_factory, "fails"):
        assert smoke.main([url, "--timeout", "120"]) == 1
    assert time.monotonic() - started < 30  # not the 120 s a 5xx from a balancer would get
    err = capsys.readouterr().err
    assert (
        'POST /predict {"msg": "Hi"}: status 500, expected 200; body \'{"success": false, '
        '"error": "the model failed on this input' in err
    )


def test_a_model_that_failed_to_load_fails_at_once_with_the_reason(tmp_path, capsys):
    env = {"WEB_CONCURRENCY": "1", "MODEL_MODULE": "tests.app.models.loading"}
    server = Server(tmp_path, {**env, "LOAD_FAILS": "/weights/model.bin"})
    try:
        server.wait_ready(path="/healthz")
        started = time.monotonic()
        assert smoke.main([f"http://127.0.0.1:{server.port}", "--timeout", "120"]) == 1
        assert time.monotonic() - started < 30
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert "GET /readyz: status 503, expected 200" in err
    assert "failed to load" in err
    assert "FileNotFoundError" in err or "/weights/model.bin" in err


def test_a_model_still_loading_is_waited_for(tmp_path, capsys):
    env = {"WEB_CONCURRENCY": "1", "MODEL_MODULE": "tests.app.models.loading"}
    server = Server(tmp_path, {**env, "LOAD_SECONDS": "3"})
    try:
        server.wait_ready(path="/healthz")
        assert smoke.main([f"http://127.0.0.1:{server.port}", "--timeout", "60"]) == 0
    finally:
        server.stop()
    out = capsys.readouterr().out
    assert "  wait  GET /readyz: status 503" in out
    assert "the model is loading" in out


@pytest.mark.parametrize(
    ("status", "body", "final"),
    [
        (500, {"success": False, "error": "the model failed on this input"}, True),
        (503, {"success": False, "error": "the model failed to load: OSError: no file"}, True),
        (503, {"success": False, "error": "MODEL_PATH=/m: ... refusing to load it"}, True),
        (503, {"success": False, "error": "the model is loading"}, False),
        (503, {"success": False, "error": "the model is busy: retry shortly"}, False),
        (502, "<html>502 Bad Gateway</html>", False),
        (500, "<html>Internal Server Error</html>", False),
        (504, {"success": False, "error": "the model took longer than TIMEOUT"}, False),
    ],
)
def test_only_the_runtimes_own_final_answers_are_not_retried(status, body, final):
    answer = smoke.Answer(status=status, body=body if isinstance(body, str) else json.dumps(body))
    assert smoke.is_final(answer) is final
    assert smoke.is_transient(answer) is not final


def test_input_for_a_model_without_an_example(plain_url, capsys):
    assert smoke.main([plain_url, "--timeout", "10", "--input", '"Hi"']) == 0
    out = capsys.readouterr().out
    assert '  PASS  POST /predict {"msg": "Hi"} -> 200 "Hi"' in out
    assert "  PASS  GET /predict?msg=Hi -> 200" in out
    assert "taken for an echo" in out  # it is one
    assert "smoke: all 8 checks passed" in out


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
    assert f"all 8 checks passed against {app_url}\n" in done.stdout


def test_loopback_ignores_a_proxy_in_the_environment(app_url, monkeypatch, capsys):
    # Nothing listens on port 9: a proxied request would fail.
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert smoke.main([app_url.replace("127.0.0.1", "localhost"), "--timeout", "10"]) == 0


# --- make smoke -------------------------------------------------------------------------------


def _make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`make -s smoke ARGS...` as a user runs it; BIN is this interpreter's folder (a fresh
    clone's .venv/bin, or the shared one a worktree borrows)."""
    env = {
        k: v
        for k, v in _env_without_proxies().items()
        if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "STACK", "ARGS")
    }
    env["PATH"] = f"{tmp_path}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        ["/usr/bin/make", "-s", "smoke", f"BIN={Path(sys.executable).parent}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_smoke_checks_the_address_given_with_url(app_url, tmp_path):
    _fake_pulumi(tmp_path, "echo 'pulumi must not be asked' >&2; exit 1\n")
    done = _make(tmp_path, f"URL={app_url}", "ARGS=--timeout 10")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"smoke: checking {app_url} (retrying for up to 10 s)" in done.stdout
    assert f"all 8 checks passed against {app_url}" in done.stdout


def test_make_smoke_passes_args_through(iris_url, tmp_path):
    done = _make(
        tmp_path, f"URL={iris_url}", """ARGS=--input '{"petal_length": 3, "petal_width": 1}'"""
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert '  input {"petal_length": 3, "petal_width": 1} (--input)' in done.stdout


def test_make_smoke_without_url_reads_the_stacks_url(app_url, tmp_path):
    _fake_pulumi(tmp_path, f'echo "$@" > "{tmp_path}/args"\necho {app_url}\n')
    done = _make(tmp_path, "STACK=dev", "ARGS=--timeout 10")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "args").read_text().split() == ["stack", "output", "url", "--stack", "dev"]
    assert f"all 8 checks passed against {app_url}" in done.stdout


# --- a closed port ------------------------------------------------------------------------------


def test_a_closed_loopback_port_is_answered_within_seconds_not_the_whole_timeout():
    # The default, as the issue asks: a clear answer within about 5 s, not 180 s.
    assert smoke.LOCAL_REFUSED_SECONDS <= 5 < smoke.DEFAULT_TIMEOUT


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_nothing_listening_on_this_machine_is_said_plainly(host, monkeypatch, capsys):
    monkeypatch.setattr(smoke, "LOCAL_REFUSED_SECONDS", 0.6)
    port = free_port()
    started = time.monotonic()
    assert smoke.main([f"http://{host}:{port}"]) == 1  # the default --timeout of 180 s
    assert 0.6 <= time.monotonic() - started < 3
    captured = capsys.readouterr()
    assert captured.err == (
        f"smoke: nothing listens on {host}:{port} (connection refused for 0.6 s): start the "
        "endpoint with `make serve`, or `make up` for the local stack, or give the address it "
        "listens on\n"
    )
    assert "  wait  GET /healthz: connection refused; retrying for up to 1 s" in captured.out


def test_a_timeout_shorter_than_the_grace_still_says_nothing_listens(capsys):
    started = time.monotonic()
    assert smoke.main([f"http://127.0.0.1:{free_port()}", "--timeout", "0.5"]) == 1
    assert time.monotonic() - started < 3
    assert "nothing listens on 127.0.0.1:" in capsys.readouterr().err


def test_a_remote_address_keeps_the_whole_retry_window(fast_backoff, monkeypatch, capsys):
    # A new ALB refuses or resets connections for minutes: only this machine is judged quickly.
    monkeypatch.setattr(smoke, "LOCAL_REFUSED_SECONDS", 0.2)
    monkeypatch.setattr(smoke, "is_this_machine", lambda url: False)
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    assert smoke.main([url, "--timeout", "0.6"]) == 1
    assert 0.6 <= time.monotonic() - started < 3
    err = capsys.readouterr().err
    assert f"4 of 4 checks failed against {url}:" in err
    assert "GET /healthz: connection refused" in err
    assert "nothing listens" not in err


def test_a_port_that_answered_once_is_restarting_and_keeps_the_window(fast_backoff, monkeypatch):
    monkeypatch.setattr(smoke, "LOCAL_REFUSED_SECONDS", 0.2)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    runner = smoke.Runner(url, 0.6, io.StringIO())
    assert runner.run(smoke.health_checks()[0]).passed
    server.shutdown()
    server.server_close()
    result = runner.run(smoke.health_checks()[1])  # no NothingListensError: it answered before
    assert result.problem == "connection refused"
    assert time.monotonic() - runner.started >= 0.6


# --- wrong servers ------------------------------------------------------------------------------


def _document(example=None, query_example=None) -> dict:
    param = {"name": "msg", "in": "query", "required": True, "schema": {"type": "string"}}
    if query_example is not None:
        param["example"] = query_example
    body = {"type": "object", "properties": {"msg": {}}, "required": ["msg"]}
    if example is not None:
        body["examples"] = [{"msg": example}]
    return {
        "openapi": "3.1.0",
        "paths": {
            "/predict": {
                "get": {"parameters": [param]},
                "post": {"requestBody": {"content": {"application/json": {"schema": body}}}},
            }
        },
    }


class _Echo(http.server.BaseHTTPRequestHandler):
    """A well-behaved echo with the example "Hi"; subclasses break a part of the contract."""

    version = "v-1"
    document: ClassVar[dict] = _document("Hi", "Hi")

    def _send(self, status, body, content_type="application/json", version=True):
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if version:
            self.send_header("X-Model-Version", self.version)
        self.end_headers()
        self.wfile.write(data)

    def predict(self, msg):
        self._send(200, {"response": msg, "success": True})

    def no_msg(self):
        self._send(400, {"success": False, "error": "missing 'msg'"})

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path in ("/healthz", "/readyz"):
            self._send(200, {"status": "ok"})
        elif parts.path == "/openapi.json":
            self._send(200, self.document)
        elif parts.path == "/predict":
            query = parse_qs(parts.query)
            self.predict(query["msg"][0]) if "msg" in query else self.no_msg()
        else:
            self._send(404, {"success": False, "error": "no such path"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.predict(body["msg"])

    def log_message(self, *args):
        pass


class _Wrong(_Echo):
    """Answers its example back but mangles anything else, leaves out X-Model-Version on GET,
    and answers a request without msg with an HTML page."""

    def predict(self, msg):
        answer = {"response": msg if msg == "Hi" else "Hello world", "success": True}
        self._send(200, answer, version=self.command == "POST")

    def no_msg(self):
        self._send(400, "<html><body>Bad Request</body></html>", "text/html")


class _Failing(_Echo):
    """A load balancer with no healthy target yet: 503 for everything."""

    def do_GET(self):
        self._send(503, "<html>503 Service Temporarily Unavailable</html>", "text/html", False)


class _OldSpec(_Echo):
    """An endpoint publishing OpenAPI 3.0."""

    document: ClassVar[dict] = {**_document("Hi", "Hi"), "openapi": "3.0.3"}


class _Keyed(_Echo):
    """An endpoint with API_KEYS set: /predict wants `Authorization: Bearer <KEY>`. Its 401
    shows the header it got, as a careless server might: the smoke must not print it."""

    seen: ClassVar[list[str | None]] = []

    def _authorized(self):
        got = self.headers.get("Authorization")
        type(self).seen.append(got)
        if got != f"Bearer {KEY}":
            self._send(401, {"success": False, "error": f"bad Authorization: {got}"})
            return False
        return True

    def predict(self, msg):
        if self._authorized():
            super().predict(msg)

    def no_msg(self):
        if self._authorized():
            super().no_msg()


@contextlib.contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def wrong_url() -> Iterator[str]:
    with _serving(_Wrong) as url:
        yield url


@pytest.fixture
def failing_url() -> Iterator[str]:
    with _serving(_Failing) as url:
        yield url


@pytest.fixture
def keyed_url() -> Iterator[str]:
    _Keyed.seen = []
    with _serving(_Keyed) as url:
        yield url


def test_a_well_behaved_echo_passes(fast_backoff, capsys):
    with _serving(_Echo) as url:
        assert smoke.main([url, "--timeout", "5"]) == 0
    assert "all 8 checks passed" in capsys.readouterr().out


def test_fails_clearly_against_a_wrong_server(wrong_url, fast_backoff, capsys):
    started = time.monotonic()
    assert smoke.main([wrong_url, "--timeout", "5"]) == 1
    assert time.monotonic() - started < 3  # wrong answers are not retried until the timeout
    captured = capsys.readouterr()
    assert '  PASS  POST /predict {"msg": "Hi"} -> 200 "Hi" (X-Model-Version v-1)' in captured.out
    err = captured.err
    assert "4 of 8 checks failed" in err
    assert "  - GET /predict?msg=Hi: no X-Model-Version header in the answer" in err
    assert f"  - GET /predict?msg={MESSAGE}: no X-Model-Version header" in err
    assert (
        f'  - POST /predict {{"msg": "{MESSAGE}"}}: expected the echo\'s answer '
        f'{{"response": "{MESSAGE}", "success": true}}; '
        """got '{"response": "Hello world", "success": true}' (3 attempts over""" in err
    )
    assert "GET /predict without msg: expected a JSON error" in err
    assert "<html><body>Bad Request</body></html>" in err


def test_retries_a_5xx_until_the_timeout(failing_url, fast_backoff, capsys):
    started = time.monotonic()
    assert smoke.main([failing_url, "--timeout", "0.6"]) == 1
    elapsed = time.monotonic() - started
    assert 0.6 <= elapsed < 3
    captured = capsys.readouterr()
    assert "wait  GET /healthz: status 503, expected 200" in captured.out
    assert "no OpenAPI document to read the model's example input from" in captured.out
    assert "GET /healthz: status 503, expected 200; body '<html>503 Service" in captured.err
    assert "4 of 4 checks failed" in captured.err


def test_an_openapi_3_0_document_fails(fast_backoff, capsys):
    with _serving(_OldSpec) as url:
        assert smoke.main([url, "--timeout", "5"]) == 1
    err = capsys.readouterr().err
    assert "1 of 4 checks failed" in err
    assert "GET /openapi.json: expected an OpenAPI 3.1 document" in err
    assert "got \"openapi\": '3.0.3'" in err


# --- the API key --------------------------------------------------------------------------------


def test_api_key_is_sent_as_a_bearer_token_and_never_printed(keyed_url, capsys):
    assert smoke.main([keyed_url, "--timeout", "5", "--api-key", KEY]) == 0
    assert _Keyed.seen and set(_Keyed.seen) == {f"Bearer {KEY}"}
    captured = capsys.readouterr()
    assert "  note  the API key is sent (Authorization: Bearer <key>)" in captured.out
    assert KEY not in captured.out + captured.err


def test_api_key_from_the_environment(keyed_url, monkeypatch, capsys):
    monkeypatch.setenv("ECHO_API_KEY", KEY)
    assert smoke.main([keyed_url, "--timeout", "5"]) == 0
    assert KEY not in "".join(capsys.readouterr())


@pytest.mark.parametrize(
    ("argv", "got"), [([], "None"), (["--api-key", "wrong-" + KEY], "Bearer ***")]
)
def test_a_missing_or_wrong_key_fails_saying_what_to_do(argv, got, keyed_url, fast_backoff, capsys):
    assert smoke.main([keyed_url, "--timeout", "5", *argv]) == 1
    captured = capsys.readouterr()
    assert "2 of 6 checks failed" in captured.err
    assert (
        '  - POST /predict {"msg": "Hi"}: status 401: the endpoint refused the request for want '
        "of a valid API key (give one with --api-key KEY or $ECHO_API_KEY); body "
        f"""'{{"success": false, "error": "bad Authorization: {got}"}}'""" in captured.err
    )
    assert KEY not in captured.out + captured.err


def test_the_key_does_not_follow_a_redirect_to_another_address(fast_backoff, capsys):
    class Redirect(_Echo):
        def do_GET(self):
            if not self.path.startswith("/predict"):
                return super().do_GET()
            self.send_response(302)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

    _Keyed.seen = []
    with _serving(_Keyed) as target, _serving(Redirect) as url:
        smoke.main([url, "--timeout", "5", "--api-key", KEY])
    assert _Keyed.seen and set(_Keyed.seen) == {None}  # redirected GETs came without the key


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--api-key", "two words"], "", "argument --api-key: the key has a character other"),
        (["--api-key", " "], "", "argument --api-key: the key is empty"),
        ([], "line\nbreak", "$ECHO_API_KEY: the key has a character other than printable ASCII"),
    ],
)
def test_a_key_that_cannot_be_a_header_is_refused_without_showing_it(
    argv, env, message, monkeypatch, capsys
):
    if env:
        monkeypatch.setenv("ECHO_API_KEY", env)
    with pytest.raises(SystemExit) as exit_:
        smoke.main(["http://localhost:8080", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "two words" not in err and "line\nbreak" not in err


# --- arguments ----------------------------------------------------------------------------------


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
        (
            ["http://localhost:8080", "--input", "Hi"],
            "argument --input: 'Hi' is not JSON (Expecting value: line 1 column 1 (char 0)); the "
            "input is the JSON value of msg: text is quoted, e.g. --input '\"Hi\"'",
        ),
        (["http://localhost:8080", "--input", "{"], "argument --input: '{' is not JSON"),
        (["http://localhost:8080", "--input", ""], "argument --input: '' is not JSON"),
        (["http://localhost:8080", "--input", "NaN"], "argument --input: 'NaN' is not JSON (NaN"),
        (["http://localhost:8080", "--input", "[1] [2]"], "argument --input: '[1] [2]' is not"),
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
    assert f"all 8 checks passed against {app_url}" in capsys.readouterr().out


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


# --- the pieces -------------------------------------------------------------------------------


def _answer(body, status=200, version="v-1") -> smoke.Answer:
    headers = {"x-model-version": version} if version else {}
    return smoke.Answer(status, json.dumps(body), headers=headers)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (_answer({"response": {"species": "setosa"}, "success": True}), None),
        (_answer({"response": None, "success": True}), None),
        (_answer({"response": "Hi", "success": "true"}), "expected a JSON object"),
        (_answer({"success": True}), "expected a JSON object"),
        (_answer(["Hi"]), "expected a JSON object"),
        (_answer({"response": "Hi", "success": True}, version=""), "no X-Model-Version header"),
        (_answer({"success": False, "error": "x"}, 422), "status 422, expected 200"),
        (_answer({"success": False, "error": "x"}, 401), "status 401: the endpoint refused"),
        (smoke.Answer(error="connection refused", refused=True), "connection refused"),
    ],
)
def test_a_prediction_wants_success_true_and_the_version_header(answer, problem):
    found = smoke.expect_prediction(answer)
    assert found == problem if problem is None else problem in found


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
    assert (smoke.expect_echo("Hi")(_answer(body)) is None) is ok


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"openapi": "3.1.0", "paths": {"/predict": {}}}, None),
        ({"openapi": "3.0.3", "paths": {"/predict": {}}}, "expected an OpenAPI 3.1 document"),
        ({"swagger": "2.0", "paths": {"/predict": {}}}, "expected an OpenAPI 3.1 document"),
        ({"openapi": "3.1.0", "paths": {}}, "does not describe /predict"),
        (["3.1.0"], "expected an OpenAPI document (a JSON object)"),
    ],
)
def test_the_openapi_check(body, problem):
    found = smoke.expect_openapi(_answer(body))
    assert found == problem if problem is None else problem in found


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ([1, 2, 3], [1.0, 2.0, 3.0], True),
        ({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}, True),
        (1, True, False),
        (0, False, False),
        ("1", 1, False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1], [1, 1], False),
    ],
)
def test_same_json(a, b, same):
    assert smoke.same_json(a, b) is same


def test_inputs_from_the_documents_example():
    text = smoke.choose_inputs(_document("Hi", "Hi"), None)
    assert (text.value, text.query, text.source, text.takes_text) == (
        "Hi",
        "Hi",
        "the model's example",
        True,
    )
    doc = _document([1, 2, 3])
    param = doc["paths"]["/predict"]["get"]["parameters"][0]
    del param["schema"]
    param["content"] = {"application/json": {"schema": {"type": "array"}}}
    structured = smoke.choose_inputs(doc, None)
    assert (structured.value, structured.query, structured.takes_text) == (
        [1, 2, 3],
        "[1,2,3]",
        False,
    )
    # A text query parameter without its own example (the example is not text): POST only.
    no_query = smoke.choose_inputs(_document([1, 2]), None)
    assert no_query.query is None
    assert no_query.no_query == "the document gives no query example for msg"
    # A constrained text schema cannot take any message: no echo round trip.
    doc = _document("hi", "hi")
    doc["paths"]["/predict"]["get"]["parameters"][0]["schema"]["maxLength"] = 5
    assert smoke.choose_inputs(doc, None).takes_text is False


def test_inputs_from_the_input_argument():
    given = smoke.choose_inputs(_document("Hi", "Hi"), smoke.Given("Hej"))
    assert (given.value, given.query, given.source) == ("Hej", "Hej", "--input")
    not_text = smoke.choose_inputs(_document("Hi", "Hi"), smoke.Given({"a": 1}))
    assert not_text.query is None
    assert (
        not_text.no_query == "--input is not text, and the model's query parameter msg takes text"
    )
    no_param = smoke.choose_inputs({"openapi": "3.1.0", "paths": {}}, smoke.Given("Hi"))
    assert no_param.no_query == "the OpenAPI document describes no query parameter msg"
    null = smoke.choose_inputs(None, smoke.Given(None))
    assert null.value is None and null.query is None
    assert null.no_query == "no OpenAPI document says how msg goes in a query string"


def test_no_inputs_says_why():
    why = "the model declares no example input, and none can be made from its schema"
    assert why in smoke.choose_inputs(_document(), None)
    assert "no OpenAPI document" in smoke.choose_inputs(None, None)
    assert why in smoke.choose_inputs({"openapi": "3.1.0"}, None)


FLOWER = {
    "type": "object",
    "properties": {
        "petal_length": {"type": "number", "exclusiveMinimum": 0, "maximum": 30},
        "petal_width": {"type": "number", "minimum": 2.5},
        "colour": {"type": "string"},
    },
    "required": ["petal_length", "petal_width"],
}


@pytest.mark.parametrize(
    ("schema", "made"),
    [
        ({"type": "string"}, "example"),
        ({"type": "string", "minLength": 10, "maxLength": 12}, "exampleexam"[:10]),
        ({"type": "string", "maxLength": 3}, "exa"),
        ({"type": "string", "format": "date"}, "2024-01-01"),
        ({"type": "integer", "minimum": 5}, 5),
        ({"type": "integer", "exclusiveMinimum": 5}, 6),
        ({"type": "integer", "maximum": -3}, -3),
        ({"type": "number", "exclusiveMaximum": 0.5}, 0.0),
        ({"type": "boolean"}, True),
        ({"enum": ["red", "green"]}, "red"),
        ({"type": "array", "items": {"type": "number"}}, [1.0]),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 3}, [1, 1, 1]),
        (
            {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
            ["example", 1],
        ),
        ({"$ref": "#/components/schemas/Flower"}, {"petal_length": 1.0, "petal_width": 2.5}),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, 1),
        ({"oneOf": [{"type": "string", "maxLength": 2}, {"type": "array"}]}, "ex"),
        ({"type": "string", "default": "hello"}, "hello"),
    ],
)
def test_an_input_is_made_from_the_schema(schema, made):
    assert smoke.schema_instance(schema, {"Flower": FLOWER}) == made


@pytest.mark.parametrize(
    "schema",
    [
        {},
        {"description": "Any JSON value; from the query string, a string."},
        {"type": "string", "pattern": "^[A-Z]{3}$"},
        {"type": "array", "items": {"type": "string", "pattern": "x"}},
        {"$ref": "#/components/schemas/Missing"},
        {"not": {"type": "string"}},
    ],
)
def test_no_input_is_made_from_a_schema_that_says_too_little_or_too_much(schema):
    assert smoke.schema_instance(schema, {}) is smoke.NO_INSTANCE


def test_the_smoke_points_at_files_the_repository_has():
    text = (ROOT / "infra" / "smoke.py").read_text()
    named = set(re.findall(r"`?\b((?:app|infra|tests)/[\w/]+\.py|[A-Z]+\.md)\b", text))
    assert "app/endpoint.py" in named
    missing = {name for name in named if not (ROOT / name).exists()}
    assert not missing, f"infra/smoke.py names files that do not exist: {missing}"


def test_the_key_opens_a_real_endpoint_with_api_keys(tmp_path, fast_backoff, capsys):
    env = {"WEB_CONCURRENCY": "1", "API_KEYS": f"other-key,{KEY}"}
    server = Server(tmp_path, env).wait_ready()
    try:
        url = f"http://127.0.0.1:{server.port}"
        assert smoke.main([url, "--timeout", "10"]) == 1
        refused = capsys.readouterr().err
        assert "status 401: the endpoint refused the request for want of a valid API key" in refused
        assert smoke.main([url, "--timeout", "10", "--api-key", KEY]) == 0
        captured = capsys.readouterr()
        assert "all 8 checks passed" in captured.out
        assert KEY not in captured.out + captured.err
    finally:
        server.stop()
