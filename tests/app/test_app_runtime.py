"""The runtime around a model, against a real ``python -m app``: readiness, the model's thread
and queue, TIMEOUT, the weights file, typed schemas, and clients that misbehave."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.app_process import REPO, Server, assert_json_error

MODELS = "tests.app.models"


def _parallel(n, fn):
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: fn(), range(n)))


# --- the model's version, readiness and loading ---------------------------------------------------


def test_every_answer_carries_the_models_version(server):
    for method, path in [
        ("GET", "/predict?msg=v"),
        ("GET", "/predict"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/openapi.json"),
        ("GET", "/nowhere"),
        ("DELETE", "/predict"),
    ]:
        assert server.request(method, path).headers["x-model-version"] == "test-echo-1", path


def test_options_and_other_methods_get_a_json_405_with_allow(server):
    reply = server.request("OPTIONS", "/predict")
    assert_json_error(reply, 405, "OPTIONS")
    assert reply.headers["allow"] == "GET, POST"
    assert_json_error(server.raw(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), 404)


def test_a_model_without_a_version_is_named_by_its_sources_digest(start_server):
    srv = start_server({"MODEL_MODULE": f"{MODELS}.plain"}).wait_ready()
    source = (REPO / "tests/app/models/plain.py").read_bytes()
    expected = "sha256:" + hashlib.sha256(source).hexdigest()[:12]
    assert srv.request("GET", "/predict?msg=x").headers["x-model-version"] == expected


def test_readiness_waits_for_load_while_liveness_answers_at_once(start_server):
    srv = start_server({"MODEL_MODULE": f"{MODELS}.loading", "LOAD_SECONDS": "2"})
    srv.wait_ready(path="/healthz")
    started = time.monotonic()
    reply = srv.request("GET", "/readyz")
    assert_json_error(reply, 503, "loading")
    assert reply.headers["retry-after"] == "1"
    assert_json_error(srv.request("GET", "/predict?msg=early"), 503, "loading")
    srv.wait_ready()
    assert time.monotonic() - started > 1
    assert srv.request("GET", "/predict?msg=late").json() == {"response": "LATE", "success": True}


def test_a_load_that_fails_leaves_the_worker_unready_and_says_why(start_server):
    srv = start_server({"MODEL_MODULE": f"{MODELS}.loading", "LOAD_FAILS": "/models/missing.bin"})
    srv.wait_ready(path="/healthz")
    time.sleep(0.5)
    for _ in range(4):  # both workers: /readyz and the log keep the reason
        assert_json_error(srv.request("GET", "/readyz"), 503, "failed to load", "FileNotFoundError")
    # A caller of /predict learns that it failed, not the server's paths.
    reply = srv.request("GET", "/predict?msg=x")
    assert reply.status == 503 and reply.headers["retry-after"] == "1"
    assert reply.json() == {"success": False, "error": "model failed to load"}
    assert srv.request("GET", "/healthz").status == 200
    assert "tests.app.models.loading.load() failed" in srv.stderr
    assert "Traceback" in srv.stderr


def test_a_module_that_breaks_the_contract_stops_the_server_with_one_line(start_server):
    srv = start_server({"MODEL_MODULE": f"{MODELS}.broken"})
    assert srv.process.wait(20) != 0
    assert "tests.app.models.broken: define a function predict(msg); it is missing" in srv.stderr


def test_a_missing_model_module_stops_the_server_naming_it(start_server):
    srv = start_server({"MODEL_MODULE": "no_such_models.churn"})
    assert srv.process.wait(20) != 0
    assert "MODEL_MODULE='no_such_models.churn': no such module" in srv.stderr


# --- the weights file -----------------------------------------------------------------------------


def _weights_server(start_server, path, sha=None):
    env = {"MODEL_MODULE": f"{MODELS}.weights", "MODEL_PATH": str(path)}
    if sha:
        env["MODEL_SHA256"] = sha
    return start_server(env)


def test_a_weights_file_is_checked_and_handed_to_load(start_server, tmp_path):
    weights = tmp_path / "model.txt"
    weights.write_text("w42\n")
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    srv = _weights_server(start_server, weights, sha.upper()).wait_ready()
    assert srv.request("GET", "/predict?msg=x").json() == {"response": "w42:x", "success": True}


@pytest.mark.parametrize("problem", ["missing", "sha256"])
def test_a_weights_file_that_is_missing_or_differs_leaves_the_replica_unready(
    start_server, tmp_path, problem
):
    weights = tmp_path / "model.txt"
    if problem == "sha256":
        weights.write_text("tampered\n")
    srv = _weights_server(start_server, weights, "0" * 64)
    srv.wait_ready(path="/healthz")
    time.sleep(0.3)
    why = "cannot be read" if problem == "missing" else "SHA-256 is"
    assert_json_error(srv.request("GET", "/readyz"), 503, f"MODEL_PATH={weights}", why)
    assert why in srv.stderr and "stays unready" in srv.stderr


# --- typed models -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def typed(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("typed"), {"MODEL_MODULE": f"{MODELS}.iris_like"})
    yield srv.wait_ready()
    srv.stop()


def test_a_typed_model_validates_msg_and_serialises_its_answer(typed):
    reply = typed.post_json({"msg": {"petal_length": 1.4, "petal_width": 0.2, "extra": 1}})
    assert reply.json() == {"response": {"species": "setosa", "confidence": 1.0}, "success": True}
    assert reply.headers["x-model-version"] == "flowers-2.1"


@pytest.mark.parametrize(
    ("msg", "words"),
    [
        ({"petal_length": 1.4}, ["msg.petal_width: Field required"]),
        ({"petal_length": "long", "petal_width": 1}, ["msg.petal_length:", "valid number"]),
        ({"petal_length": "1.4", "petal_width": 1}, ["msg.petal_length:", "valid number"]),
        ({"petal_length": True, "petal_width": 1}, ["msg.petal_length:", "valid number"]),
        ({"petal_length": -1, "petal_width": 1}, ["msg.petal_length:", "greater than 0"]),
        ([1.4, 0.2], ["msg:", "should be an object"]),
        ("1,2,3", ["msg:"]),
    ],
)
def test_a_msg_that_breaks_the_schema_is_a_422_naming_the_field(typed, msg, words):
    assert_json_error(typed.post_json({"msg": msg}), 422, *words)


def test_a_structured_msg_in_a_query_string_is_json(start_server):
    srv = start_server({"MODEL_MODULE": f"{MODELS}.numbers"}).wait_ready()
    assert srv.request("GET", "/predict?msg=[1,2,3.5]").json() == {
        "response": 6.5,
        "success": True,
    }
    assert_json_error(srv.request("GET", "/predict?msg=4"), 422, "valid array")
    assert_json_error(srv.request("GET", "/predict?msg=1,2,3"), 422, "msg:")
    assert_json_error(srv.request("GET", "/predict?msg=[]"), 422, "at least 1 item")


def test_the_echo_keeps_query_strings_as_strings(server):
    for raw in ("5", "[1,2]", "null", "true"):
        assert server.request("GET", f"/predict?msg={raw}").json()["response"] == raw


# --- model failures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    env = {"MODEL_MODULE": f"{MODELS}.slow", "WEB_CONCURRENCY": "1"}
    srv = Server(tmp_path_factory.mktemp("slow"), env)
    yield srv.wait_ready()
    srv.stop()


@pytest.mark.parametrize(
    ("msg", "status", "words"),
    [
        ("bad", 422, ["the model refuses 'bad'"]),
        ("raise", 500, ["the model failed"]),
        ("exit", 500, ["the model failed"]),
        ("base", 500, ["the model failed"]),
        ("nan", 500, ["NaN or infinity"]),
    ],
)
def test_model_failures_of_every_kind_are_json_and_the_worker_goes_on(slow, msg, status, words):
    error = assert_json_error(slow.request("GET", f"/predict?msg={msg}"), status, *words)
    assert "Traceback" not in error
    assert slow.request("GET", "/predict?msg=0").json() == {"response": "0", "success": True}
    assert slow.process.poll() is None


# --- the queue, TIMEOUT and health under load ---------------------------------------------------


def test_health_answers_fast_while_every_model_slot_is_busy(start_server):
    # One worker, its model thread busy for 3 s and requests queued behind it: liveness and
    # readiness come from the event loop, never from behind the model.
    srv = start_server({"MODEL_MODULE": f"{MODELS}.slow", "WEB_CONCURRENCY": "1"}).wait_ready()
    pool = ThreadPoolExecutor(4)
    busy = [pool.submit(srv.request, "GET", "/predict?msg=1.5", timeout=20) for _ in range(3)]
    time.sleep(0.3)
    timings = []
    for _ in range(30):
        started = time.perf_counter()
        assert srv.request("GET", "/healthz", timeout=2).status == 200
        assert srv.request("GET", "/readyz", timeout=2).status == 200
        timings.append(time.perf_counter() - started)
    assert max(timings) < 0.1, timings  # two requests each, on new connections
    assert all(f.result().status == 200 for f in busy)
    pool.shutdown()


def test_a_full_queue_answers_503_with_retry_after_at_once(start_server, tmp_path):
    env = {"MODEL_MODULE": f"{MODELS}.slow", "WEB_CONCURRENCY": "1", "MAX_QUEUE": "1"}
    srv = start_server(env).wait_ready()
    started = time.monotonic()
    replies = _parallel(4, lambda: srv.request("GET", "/predict?msg=1", timeout=10))
    statuses = sorted(r.status for r in replies)
    assert statuses == [200, 200, 503, 503], statuses
    for reply in replies:
        if reply.status == 503:
            assert_json_error(reply, 503, "MAX_QUEUE=1")
            assert reply.headers["retry-after"] == "1"
    assert time.monotonic() - started < 3.5  # one running, one waiting: about 2 s


def test_timeout_counts_the_models_time_not_the_wait(start_server):
    # Two 2 s predictions on one model thread, TIMEOUT=3: the second waits 2 s and runs 2 s,
    # and is not killed for waiting.
    env = {"MODEL_MODULE": f"{MODELS}.slow", "WEB_CONCURRENCY": "1", "TIMEOUT": "3"}
    srv = start_server(env).wait_ready()
    replies = _parallel(2, lambda: srv.request("GET", "/predict?msg=2", timeout=10))
    assert [r.status for r in replies] == [200, 200]
    assert "TIMEOUT" not in srv.stderr


def test_an_overrun_answers_504_and_the_queue_503_then_a_new_worker_serves(start_server):
    env = {"MODEL_MODULE": f"{MODELS}.slow", "WEB_CONCURRENCY": "1", "TIMEOUT": "1"}
    srv = start_server(env).wait_ready()
    replies = _parallel(3, lambda: srv.request("GET", "/predict?msg=30", timeout=10))
    assert sorted(r.status for r in replies) == [503, 503, 504]
    srv.wait_ready(timeout=15)
    assert srv.request("GET", "/predict?msg=0").status == 200


def test_an_async_model_runs_on_the_loop_with_its_own_timeout(start_server):
    env = {"MODEL_MODULE": f"{MODELS}.async_echo", "TIMEOUT": "1"}
    srv = start_server(env).wait_ready()
    assert srv.request("GET", "/predict?msg=hi").json() == {"response": "hi", "success": True}
    assert_json_error(srv.request("GET", "/predict?msg=sleep"), 504, "TIMEOUT=1")
    assert srv.request("GET", "/healthz").status == 200


def test_overload_is_answered_200_or_503_and_capacity_stays_served(start_server):
    # A 20 ms model on 2 workers serves about 100 requests/s; 16 clients in a loop are 4x
    # the 4 requests the two model threads and one queue place each can hold.
    env = {"MODEL_MODULE": f"{MODELS}.fast20ms", "WEB_CONCURRENCY": "2", "MAX_QUEUE": "1"}
    srv = start_server(env).wait_ready()
    statuses: list[int] = []
    stop = time.monotonic() + 3

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        while time.monotonic() < stop:
            conn.request("GET", "/predict?msg=x")
            reply = conn.getresponse()
            reply.read()
            statuses.append(reply.status)
            if reply.status == 503:
                assert reply.getheader("Retry-After") == "1"
        conn.close()

    _parallel(16, client)
    assert set(statuses) <= {200, 503}
    served = statuses.count(200) / 3
    assert served > 0.7 * (2 / 0.02), served  # the measured figure: docs/reference/performance.md


# --- clients that misbehave ---------------------------------------------------------------------


def test_a_body_cut_short_never_reaches_the_model(slow, tmp_path):
    for data in (
        b'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"msg": "0"}',
        b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'c\r\n{"msg": "0"}\r\nZZ\r\nxx\r\n0\r\n\r\n',
        b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'c\r\n{"msg": "0"}\r\n',
    ):
        with socket.create_connection(("127.0.0.1", slow.port), timeout=5) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        assert not answer.startswith(b"HTTP/1.1 200"), answer
        if answer:
            assert answer.startswith(b"HTTP/1.1 400"), answer


def test_a_body_that_does_not_arrive_in_time_is_a_408(start_server):
    srv = start_server({"BODY_TIMEOUT": "1"}).wait_ready()
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(head + b'Content-Length: 20\r\n\r\n{"msg"')
        started = time.monotonic()
        reply = _read(s)
    assert 0.9 < time.monotonic() - started < 3
    assert reply.startswith(b"HTTP/1.1 408")
    assert b"BODY_TIMEOUT=1" in reply


def _read(sock):
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _normal_clients(srv, seconds, n=4):
    results: list[bool] = []
    stop = time.monotonic() + seconds

    def client():
        while time.monotonic() < stop:
            try:
                reply = srv.request("GET", "/predict?msg=ok", timeout=5)
                results.append(reply.status == 200 and reply.json()["response"] == "ok")
            except OSError:
                results.append(False)
            time.sleep(0.01)

    _parallel(n, client)
    return results


def test_slow_bodies_do_not_starve_normal_clients(start_server):
    # 8 connections sending a body at 1 byte every 0.25 s hold a coroutine each, not the model.
    srv = start_server({"BODY_TIMEOUT": "30"}).wait_ready()
    stop = threading.Event()

    def trickle():
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
            while not stop.wait(0.25):
                s.sendall(b" ")

    threads = [threading.Thread(target=trickle) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        results = _normal_clients(srv, 3)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(results) > 50
    assert sum(results) / len(results) >= 0.99, results.count(False)


def test_a_thousand_slow_header_senders_do_not_starve_normal_clients(start_server):
    srv = start_server().wait_ready()
    sockets = []
    try:
        for _ in range(1000):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(b"GET /predict?msg=slow HTTP/1.1\r\nHost: x\r\n")  # headers never end
            sockets.append(s)
        results = _normal_clients(srv, 3)
        for s in sockets[:200]:
            s.sendall(b"X-Slow: 1\r\n")  # still sending, still held
        results += _normal_clients(srv, 1)
    finally:
        for s in sockets:
            s.close()
    assert len(results) > 50
    assert sum(results) / len(results) >= 0.99, results.count(False)


# --- the process ------------------------------------------------------------------------------


def test_a_port_already_in_use_is_a_one_line_error(server):
    env_run = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOST": "127.0.0.1", "PORT": str(server.port)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert env_run.returncode == 2
    assert env_run.stderr.count("\n") == 1, env_run.stderr
    assert f"127.0.0.1:{server.port} is already in use" in env_run.stderr
    # and the first server still has its port to itself
    assert server.request("GET", "/predict?msg=mine").json()["response"] == "mine"


def test_the_access_log_escapes_what_clients_control(server):
    head = (
        b"GET /predict?msg=esc%0Aaped HTTP/1.1\r\nHost: x\r\n"
        b'User-Agent: evil" 200 0 0ms "x\tz\\\r\n'
        b'X-Forwarded-For: 1.2.3.4" fake\r\nConnection: close\r\n\r\n'
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(head)
        assert _read(s).startswith(b"HTTP/1.1 200")
    time.sleep(0.05)
    line = next(line for line in server.stdout.splitlines() if "esc%0Aaped" in line)
    assert line.startswith('127.0.0.1 "1.2.3.4\\" fake" "GET /predict?msg=esc%0Aaped HTTP/1.1" 200')
    assert line.endswith('"evil\\" 200 0 0ms \\"x\\x09z\\\\" test-echo-1')


def test_json_answers_are_compact_enough_and_valid(server):
    reply = server.post_json({"msg": {"a": [1, 2.5, None, "é"]}})
    assert json.loads(reply.body) == {"response": {"a": [1, 2.5, None, "é"]}, "success": True}
    assert reply.body.isascii()


def test_no_server_process_is_left_behind_by_the_fixtures(tmp_path):
    srv = Server(tmp_path, {"WEB_CONCURRENCY": "2"}).wait_ready()
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(srv.process.pid)], capture_output=True, text=True
    )
    workers = [int(pid) for pid in out.stdout.split()]
    assert len(workers) == 2
    srv.process.kill()  # the main process alone: its workers would outlive it
    srv.kill()
    time.sleep(0.2)
    for pid in workers:
        assert (
            not Path(f"/proc/{pid}").exists()
            or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        )


def test_a_forwarded_for_header_cannot_shift_the_log_fields(server):
    forged = '6.6.6.6 "GET /predict?msg=forged HTTP/1.1" 200 35 0ms "curl/8" x #'
    server.request("GET", "/healthz", headers={"X-Forwarded-For": forged})
    server.raw(b"GET /predict?msg=ten HTTP/1.0\r\n\r\n")
    time.sleep(0.05)
    lines = server.stdout.splitlines()
    line = next(line for line in lines if "6.6.6.6" in line)
    assert line.startswith('127.0.0.1 "6.6.6.6 \\"GET /predict?msg=forged HTTP/1.1\\" 200')
    assert '" "GET /healthz HTTP/1.1" 200 ' in line  # the real request, where it belongs
    assert any('"GET /predict?msg=ten HTTP/1.0" 200' in line for line in lines)


@pytest.mark.parametrize("query", ["[NaN]", "[Infinity]", "[1e999]", "[" + "9" * 400 + "]"])
def test_a_structured_query_with_nan_or_an_out_of_range_number_is_a_400(start_server, query):
    srv = start_server({"MODEL_MODULE": f"{MODELS}.floats"}).wait_ready()
    assert_json_error(
        srv.request("GET", f"/predict?msg={query}"),
        400,
        "out of range" if "9" in query or "e999" in query else "not valid JSON",
    )
    body = b'{"msg": [' + b"9" * 400 + b"]}"
    assert_json_error(
        srv.request("POST", "/predict", body, {"Content-Type": "application/json"}), 400
    )
    assert srv.request("GET", "/predict?msg=[1.5,2]").json()["response"] == 3.5


def test_a_zero_content_length_of_any_spelling_means_no_body(server):
    reply = server.raw(b"POST /predict?msg=q HTTP/1.1\r\nHost: x\r\nContent-Length: 00\r\n\r\n")
    assert reply.json() == {"response": "q", "success": True}


def test_a_worker_killed_outright_no_longer_counts_as_ready(start_server):
    import os
    import signal

    env = {"MODEL_MODULE": f"{MODELS}.loading", "LOAD_SECONDS": "3", "WEB_CONCURRENCY": "2"}
    srv = start_server(env).wait_ready(timeout=20)
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(srv.process.pid)], capture_output=True, text=True
    )
    os.kill(int(out.stdout.split()[0]), signal.SIGKILL)
    time.sleep(0.5)  # granian notices and starts a replacement, which loads for 3 s
    replies = [srv.request("GET", "/readyz") for _ in range(6)]
    assert all(r.status == 503 for r in replies), [r.status for r in replies]
    assert any(
        "loaded in 1 of 2 workers" in r.json()["error"] or "loading" in r.json()["error"]
        for r in replies
    )
    srv.wait_ready(timeout=20)


def test_odd_methods_do_not_become_metric_labels(start_server):
    from tests.app_process import free_port

    port = free_port()
    srv = start_server({"METRICS_PORT": str(port)}).wait_ready()
    for i in range(20):
        srv.raw(f"X{i} /healthz HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(1.3)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    assert 'method="X1"' not in text
    assert 'http_requests_total{method="other",path="/healthz",status="405"} 20.0' in text


def test_the_queue_is_also_bounded_by_timeout_at_the_models_pace(start_server):
    # A 0.3 s model, TIMEOUT=1: with four requests ahead (1.2 s of work), the next would wait
    # past TIMEOUT, so it gets its 503 at once though MAX_QUEUE (128) has room.
    env = {"MODEL_MODULE": f"{MODELS}.slow", "WEB_CONCURRENCY": "1", "TIMEOUT": "1"}
    srv = start_server(env).wait_ready()
    assert srv.request("GET", "/predict?msg=0.3").status == 200  # teaches it the pace
    replies = _parallel(5, lambda: srv.request("GET", "/predict?msg=0.3", timeout=10))
    statuses = sorted(r.status for r in replies)
    assert statuses == [200, 200, 200, 200, 503], statuses
    refused = next(r for r in replies if r.status == 503)
    assert_json_error(refused, 503, "more than TIMEOUT=1 s")
