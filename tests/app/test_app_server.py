"""The contract, every bad input and the SIGTERM stop, against a real ``python -m app``."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

# --- the contract ------------------------------------------------------------------------------


def test_get_predict_echoes_the_query_string_exactly(server):
    reply = server.request("GET", "/predict?msg=Hi_from_docker")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"response": "Hi_from_docker", "success": True}


def test_post_predict_echoes_the_json_body_exactly(server):
    reply = server.post_json({"msg": "Hi"})
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"response": "Hi", "success": True}


@pytest.mark.parametrize(
    "msg",
    [
        "",
        0,
        -1.5,
        10**30,
        True,
        None,
        [1, "two", [3.0]],
        {"nested": {"list": [None, False]}},
        "héllo wörld · 中文 · 👋🏽 · \u0000 \u2028",
        "\ud800 is a lone surrogate",
    ],
    ids=repr,
)
def test_post_echoes_a_msg_of_any_json_type_as_it_came(server, msg):
    reply = server.post_json({"msg": msg, "ignored": "extra keys"})
    assert reply.status == 200
    assert reply.json() == {"response": msg, "success": True}


def test_get_decodes_percent_encoded_utf8_exactly(server):
    msg = "héllo 👋 a+b&c=d %"
    reply = server.request("GET", "/predict?msg=" + quote(msg, safe=""))
    assert reply.json() == {"response": msg, "success": True}


def test_get_without_msg_is_a_400(server):
    reply = server.request("GET", "/predict")
    assert reply.status == 400
    assert reply.json()["success"] is False
    assert "msg" in reply.json()["error"]


def test_post_without_a_body_takes_msg_from_the_query_string(server):
    reply = server.request("POST", "/predict?msg=from_query")
    assert reply.json() == {"response": "from_query", "success": True}


def test_a_json_body_wins_over_the_query_string(server):
    reply = server.request(
        "POST", "/predict?msg=query", b'{"msg": "body"}', {"Content-Type": "application/json"}
    )
    assert reply.json() == {"response": "body", "success": True}


@pytest.mark.parametrize(
    "content_type", [None, "application/json; charset=utf-8", "application/problem+json"]
)
def test_a_json_body_without_or_with_other_json_content_types_is_accepted(server, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    reply = server.request("POST", "/predict", b'{"msg": "Hi"}', headers)
    assert reply.json() == {"response": "Hi", "success": True}


def test_healthz_answers_200(server):
    reply = server.request("GET", "/healthz")
    assert reply.status == 200
    assert reply.json() == {"status": "ok"}


def test_the_access_log_goes_to_stdout_a_line_per_request(server):
    headers = {"User-Agent": 'probe/1 "quoted"', "X-Forwarded-For": "203.0.113.7"}
    server.request("GET", "/predict?msg=logged_to_stdout", headers=headers)
    server.request("GET", "/no/such%0Apath")  # a decoded new line must not split the line
    time.sleep(0.05)  # the line is written as the answer leaves the app; let it land
    lines = server.stdout.splitlines()
    assert re.fullmatch(
        r'127\.0\.0\.1 "203\.0\.113\.7" "GET /predict\?msg=logged_to_stdout HTTP/1\.1" 200 \d+ \d+ms '
        r'"probe/1 \\"quoted\\"" test-echo-1',
        next(line for line in lines if "logged_to_stdout" in line),
    )
    assert any('"GET /no/such%0Apath HTTP/1.1" 404' in line for line in lines)


# --- bad requests: 4xx with a JSON error, never a 5xx, an HTML page or a dead server ------------

JSON = {"Content-Type": "application/json"}
BIG = 20 * 1024 * 1024


def _assert_json_error(reply, status):
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["success"] is False
    assert isinstance(body["error"], str)
    assert body["error"]
    assert set(body) == {"success", "error"}


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        ("POST", "/predict", b'{"msg": ', JSON, 400),
        ("POST", "/predict", b"", JSON, 400),
        ("POST", "/predict", b'["msg", "Hi"]', JSON, 400),
        ("POST", "/predict", b'"Hi"', JSON, 400),
        ("POST", "/predict", b"null", JSON, 400),
        ("POST", "/predict", b"42", JSON, 400),
        ("POST", "/predict", b"{}", JSON, 400),
        ("POST", "/predict", b'{"msg": NaN}', JSON, 400),
        ("POST", "/predict", b'{"msg": 1e400}', JSON, 400),
        ("POST", "/predict", b'{"msg": "\xff\xfe caf\xe9"}', JSON, 400),
        ("POST", "/predict", '{"msg": "Hi"}'.encode("utf-16"), JSON, 400),
        ("POST", "/predict", b'{"msg": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON, 400),
        ("POST", "/predict", b"msg=Hi", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ("POST", "/predict", b'{"msg": "Hi"}', {"Content-Type": "text/plain"}, 415),
        ("GET", "/predict?msg=%FF", None, {}, 400),
        ("GET", "/predict?msg=%ED%A0%80", None, {}, 400),
        ("GET", "/predict?mgs=typo", None, {}, 400),
        ("PUT", "/predict", b'{"msg": "Hi"}', JSON, 405),
        ("DELETE", "/predict", None, {}, 405),
        ("PATCH", "/predict", None, {}, 405),
        ("POST", "/healthz", None, {}, 405),
        ("GET", "/", None, {}, 404),
        ("GET", "/predict/", None, {}, 404),
        ("GET", "/no/such/path?msg=Hi", None, {}, 404),
        ("GET", "/%FF", None, {}, 404),
    ],
    ids=lambda v: v if isinstance(v, int) else repr(v)[:40],
)
def test_bad_request_gets_a_json_4xx(server, method, path, body, headers, status):
    _assert_json_error(server.request(method, path, body, headers), status)


def test_405_names_the_allowed_methods(server):
    reply = server.request("PUT", "/predict")
    assert "POST" in reply.headers["allow"]
    assert "GET" in reply.json()["error"]


def test_a_malformed_chunked_body_gets_a_json_400(server):
    raw = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    raw += b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
    _assert_json_error(server.raw(raw), 400)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400),
        (
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400,
        ),
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET /predict?msg=\xff HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /predict HTTP/9.9\r\nHost: x\r\n\r\n", 400),
        (b"GET /predict?msg=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Many: a\r\n" * 200 + b"\r\n", 431),
    ],
    ids=lambda v: v if isinstance(v, int) else repr(v)[:50],
)
def test_http_the_parser_refuses_gets_its_4xx_with_an_empty_body_never_html(server, raw, status):
    # Granian answers these itself, before the app, with an empty body: it has no hook for a
    # JSON one (see app.server). Still a 4xx, never a 5xx or an HTML page.
    reply = server.raw(raw)
    assert reply.status == status
    assert reply.body == b""
    assert reply.headers.get("connection") == "close"


def test_a_long_url_and_a_big_header_within_the_parsers_limits_are_served(server):
    reply = server.raw(b"GET /predict?msg=" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.json() == {"response": "a" * 10_000, "success": True}
    big_header = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n"
    assert server.raw(big_header).status == 200


def test_one_connection_serves_many_requests(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for n in range(3):
            conn.request("GET", f"/predict?msg=keep{n}")
            reply = conn.getresponse()
            assert json.loads(reply.read()) == {"response": f"keep{n}", "success": True}
            assert not reply.will_close  # the connection stays open for the next request
            if n == 0:
                sock = conn.sock
            assert conn.sock is sock
    finally:
        conn.close()


def test_an_oversized_body_is_refused_from_its_content_length_before_it_is_sent(server):
    head = (
        f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {BIG}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    reply = server.raw(head, timeout=3)  # not one byte of the 20 MB body is sent
    assert time.monotonic() - started < 2
    _assert_json_error(reply, 413)
    assert "1048576" in reply.json()["error"]


def test_an_oversized_chunked_body_is_refused(server):
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += b"Transfer-Encoding: chunked\r\n\r\n"
    _assert_json_error(server.raw(head + body), 413)


def test_a_small_chunked_body_is_accepted(server):
    body = b'{"msg": "chunked"}'
    raw = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    raw += b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    reply = server.raw(raw)
    assert reply.status == 200
    assert reply.json() == {"response": "chunked", "success": True}


def test_clients_that_vanish_mid_request_do_not_hurt_the_server(server):
    for data in (
        b'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"msg"',
        b"GET /predict?msg=half",
        b"",
    ):
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as s:
            s.sendall(data)
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
    assert server.request("GET", "/predict?msg=still_here").json()["response"] == "still_here"


def test_the_server_is_alive_and_clean_after_all_the_bad_requests(server):
    # Runs after the tests above in this module (pytest keeps file order).
    assert server.process.poll() is None
    for _ in range(3):  # every worker, most likely
        assert server.request("GET", "/predict?msg=alive").json()["response"] == "alive"
    assert "Traceback" not in server.stderr
    assert "<html" not in server.stdout


# --- a slow model, model failures and the SIGTERM stop ----------------------------------------

# A server whose model (tests/app/models/slow.py) sleeps for ``msg`` seconds, after touching
# $STARTED, and then echoes msg; some messages make it fail instead.
SLOW = "tests.app.models.slow"


def _get_in_background(srv, path):
    result = {}

    def get():
        try:
            result["reply"] = srv.request("GET", path, timeout=30)
        except OSError as e:
            result["error"] = e

    thread = threading.Thread(target=get)
    thread.start()
    return thread, result


def _wait_for(path: Path, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_sigterm_finishes_in_flight_requests_then_stops(start_server, tmp_path):
    # Two servers at once to keep the suite fast: one whose request ends within the graceful
    # timeout, and one whose request does not and is cut off by it.
    finishing = start_server(
        {"STARTED": str(tmp_path / "a"), "WEB_CONCURRENCY": "1", "MODEL_MODULE": SLOW},
    )
    stuck = start_server(
        {
            "STARTED": str(tmp_path / "b"),
            "WEB_CONCURRENCY": "1",
            "GRACEFUL_TIMEOUT": "1",
            "MODEL_MODULE": SLOW,
        },
    )
    finishing.wait_ready()
    stuck.wait_ready()
    thread_a, result_a = _get_in_background(finishing, "/predict?msg=1.5")
    thread_b, result_b = _get_in_background(stuck, "/predict?msg=30")
    _wait_for(tmp_path / "a")
    _wait_for(tmp_path / "b")

    started = time.monotonic()
    finishing.process.send_signal(signal.SIGTERM)
    stuck.process.send_signal(signal.SIGTERM)

    thread_a.join(10)
    assert result_a["reply"].status == 200
    assert result_a["reply"].json() == {"response": "1.5", "success": True}
    assert finishing.process.wait(10) == 0
    assert time.monotonic() - started < 1.5 + 3
    with pytest.raises(ConnectionRefusedError):
        finishing.request("GET", "/healthz", timeout=1)

    # A request longer than GRACEFUL_TIMEOUT does not hold the stop up.
    stuck.process.wait(10)
    assert time.monotonic() - started < 1 + 3
    thread_b.join(10)
    assert "reply" not in result_b


def test_a_failing_model_gives_a_json_500_and_a_logged_traceback(start_server, tmp_path):
    srv = start_server({"STARTED": str(tmp_path / "s"), "MODEL_MODULE": SLOW})
    srv.wait_ready()
    reply = srv.request("GET", "/predict?msg=raise")
    _assert_json_error(reply, 500)
    assert "Traceback" not in reply.json()["error"]
    assert "could not convert string to float" not in reply.body.decode()
    assert srv.request("GET", "/predict?msg=0").json() == {"response": "0", "success": True}
    srv.stop()
    assert "ValueError: could not convert string to float: 'raise'" in srv.stderr


def test_healthz_answers_while_the_only_worker_runs_a_slow_prediction(start_server, tmp_path):
    srv = start_server(
        {"STARTED": str(tmp_path / "s"), "WEB_CONCURRENCY": "1", "MODEL_MODULE": SLOW},
    )
    srv.wait_ready()
    thread, result = _get_in_background(srv, "/predict?msg=2")
    _wait_for(tmp_path / "s")
    started = time.monotonic()
    assert srv.request("GET", "/healthz", timeout=2).status == 200
    assert time.monotonic() - started < 1  # not after the prediction
    thread.join(10)
    assert result["reply"].json() == {"response": "2", "success": True}


def test_a_prediction_over_timeout_gets_a_504_and_a_new_worker_serves(start_server, tmp_path):
    srv = start_server(
        {
            "STARTED": str(tmp_path / "s"),
            "WEB_CONCURRENCY": "1",
            "TIMEOUT": "1",
            "MODEL_MODULE": SLOW,
        }
    )
    srv.wait_ready()
    started = time.monotonic()
    reply = srv.request("GET", "/predict?msg=30", timeout=10)
    _assert_json_error(reply, 504)
    assert "TIMEOUT=1" in reply.json()["error"]
    assert time.monotonic() - started < 3
    srv.wait_ready(timeout=15)  # the replacement
    assert srv.request("GET", "/predict?msg=0").json() == {"response": "0", "success": True}
    assert srv.process.poll() is None
    assert "a prediction has run for more than TIMEOUT=1 s" in srv.stderr


# --- the same server with a read-only root filesystem --------------------------------------------


def _can_remount_root_read_only() -> bool:
    """Root with unshare(1) and the right to make a private mount namespace (not every CI has)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "mount",
        "-o",
        "remount,bind,ro",
        "/",
    ]
    return subprocess.run(probe, check=False, capture_output=True, timeout=10).returncode == 0


@pytest.mark.skipif(
    not _can_remount_root_read_only(),
    reason="needs root and unshare(1) to remount / read-only in a private mount namespace",
)
def test_the_server_runs_with_a_read_only_root_filesystem(start_server):
    # As orchestrators run the image with a read-only root filesystem: only separate mounts such
    # as /dev/shm stay writable. The remount is private to the server's mount namespace.
    remount_then_serve = 'mount -o remount,bind,ro / && exec "$0" -m app'
    command = ["unshare", "--mount", "--propagation", "private"]
    command += ["sh", "-c", remount_then_serve, sys.executable]
    srv = start_server(command=command).wait_ready()
    assert srv.request("GET", "/predict?msg=ro").json() == {"response": "ro", "success": True}
    assert srv.stop() == 0
    assert "Read-only file system" not in srv.stderr, srv.stderr
