"""The server under attack, against a real ``python -m app``: crashing workers, big JSON bodies
beside health checks, numbers past Python's limits, what reaches the log, models that cannot be
imported, numpy answers and a worker's memory limit."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

import pytest

from tests.app_process import assert_json_error

MODELS = "tests.app.models"


# --- a worker that dies is replaced, however often -------------------------------------------------


def test_a_model_that_kills_its_worker_again_and_again_never_stops_the_server(start_server):
    # Granian alone exits ("Worker crash loop detected") when a worker dies twice within 5.5 s.
    srv = start_server({"MODEL_MODULE": f"{MODELS}.crashing"}).wait_ready()
    started = time.monotonic()
    for _ in range(5):
        # The worker dies under the request: no answer.
        with contextlib.suppress(OSError, http.client.HTTPException):
            srv.request("GET", "/predict?msg=crash", timeout=2)
        time.sleep(max(0.0, 0.6 - (time.monotonic() - started) % 0.6))
    assert time.monotonic() - started < 6
    srv.wait_ready(timeout=30)
    assert srv.process.poll() is None, srv.stderr
    assert srv.request("GET", "/predict?msg=still").json() == {"response": "still", "success": True}
    assert "crash loop" not in srv.stderr
    assert srv.stderr.count("Unexpected exit from worker") >= 2
    assert srv.stop() == 0


def test_repeated_timeout_overruns_never_stop_the_server(start_server, tmp_path):
    srv = start_server(
        {"MODEL_MODULE": f"{MODELS}.slow", "TIMEOUT": "1", "STARTED": str(tmp_path / "s")}
    ).wait_ready()
    for _ in range(3):
        assert_json_error(srv.request("GET", "/predict?msg=30", timeout=10), 504, "TIMEOUT=1")
        srv.wait_ready(timeout=30)
    assert srv.process.poll() is None, srv.stderr
    assert srv.request("GET", "/predict?msg=0").json() == {"response": "0", "success": True}
    assert "crash loop" not in srv.stderr


# --- a model module that cannot be imported: one message, before the server listens ---------------


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (
            "def predict(msg):\n    return msg +\n",
            ["usermodel.py, line 2: SyntaxError: invalid syntax"],
        ),
        (
            '"""A model."""\nimport os\nimport sklearn_missing.tree\n\n\ndef predict(msg):\n'
            "    return msg\n",
            [
                "usermodel.py, line 3: No module named 'sklearn_missing'",
                "add sklearn_missing to app/requirements.txt",
            ],
        ),
        (
            "import os\n\nraise RuntimeError('no weights here')\n\n\ndef predict(msg):\n"
            "    return msg\n",
            ["usermodel.py, line 3:", "RuntimeError: no weights here (traceback above)"],
        ),
    ],
    ids=["syntax", "missing-package", "raises"],
)
def test_a_model_that_cannot_be_imported_stops_the_server_once_with_where_and_why(
    start_server, tmp_path, source, words
):
    (tmp_path / "usermodel.py").write_text(source)
    srv = start_server({"MODEL_MODULE": "usermodel", "PYTHONPATH": str(tmp_path)})
    assert srv.process.wait(20) == 3
    err = srv.stderr
    lines = [line for line in err.splitlines() if line.startswith("python -m app:")]
    assert len(lines) == 1, err  # once, not once per worker
    for word in words:
        assert word in lines[0], err
    assert "Listening at" not in err
    assert err.count("Traceback") <= 1


# --- numpy's values in answers --------------------------------------------------------------------

NUMPY_ANSWERS = [
    ("scalar", 0.5),
    ("int", 7),
    ("array", [[1.5, 2.0], [3.0, 4.25]]),
    ("list", [0.25, 1.0]),
    ("dict", {"embedding": [0.0, 1.0, 2.0], "ok": True}),
]


@pytest.mark.parametrize("module", ["numpy_answers", "numpy_typed"])
def test_numpy_answers_are_json_numbers_and_lists_with_or_without_a_return_type(
    start_server, module
):
    pytest.importorskip("numpy")
    srv = start_server({"MODEL_MODULE": f"{MODELS}.{module}", "WEB_CONCURRENCY": "1"})
    srv.wait_ready()
    for msg, expected in NUMPY_ANSWERS:
        reply = srv.request("GET", f"/predict?msg={msg}")
        assert reply.status == 200, (msg, reply.body)
        assert reply.json() == {"response": expected, "success": True}
    big = srv.request("GET", "/predict?msg=big")  # encoded off the loop, a slice at a time
    assert big.status == 200, big.body
    assert big.json() == {"response": [float(i) for i in range(5000)], "success": True}
    # NaN has no JSON form: a clear 500, never invalid JSON.
    error = assert_json_error(srv.request("GET", "/predict?msg=nan"), 500, "NaN or infinity")
    assert "nan" not in error.replace("NaN", "")
    assert srv.stop() == 0
    assert "the model's answer holds NaN or infinity" in srv.stderr


# --- numbers past Python's own limits -------------------------------------------------------------


def test_a_query_integer_past_pythons_digit_limit_is_a_422_naming_msg(start_server):
    srv = start_server({"MODEL_MODULE": f"{MODELS}.numbers", "WEB_CONCURRENCY": "1"})
    srv.wait_ready()
    reply = srv.request("GET", "/predict?msg=[" + "9" * 5000 + "]")
    error = assert_json_error(reply, 422, "msg")
    assert "4300 digits" in error
    assert srv.request("GET", "/predict?msg=[1,2]").json() == {"response": 3.0, "success": True}


# --- health checks beside big JSON bodies ---------------------------------------------------------


def _post_forever(port: int, body: bytes, stop: threading.Event, sent: list[int]) -> None:
    head = (
        f"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                while not stop.is_set():
                    s.sendall(head + body)
                    response = http.client.HTTPResponse(s)
                    response.begin()
                    response.read()
                    sent.append(response.status)
        except (OSError, http.client.HTTPException):
            time.sleep(0.01)


_PROBE = """
import http.client, json, sys, time
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
latencies, deadline = [], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    started = time.perf_counter()
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    latencies.append(time.perf_counter() - started)
    time.sleep(0.02)
print(json.dumps(latencies))
"""
"""``GET /healthz`` every 20 ms for ``argv[2]`` seconds; prints the latencies as JSON."""


def test_healthz_stays_fast_while_32_clients_send_1mb_bodies_of_numbers(start_server):
    srv = start_server().wait_ready()
    numbers = [i * 1.000001 if i % 2 else i for i in range(120_000)]
    body = json.dumps({"msg": numbers}).encode()[: 1024 * 1024]
    body = body[: body.rfind(b",")] + b"]}"  # just under 1 MiB, still JSON
    stop, sent = threading.Event(), []
    clients = [
        threading.Thread(target=_post_forever, args=(srv.port, body, stop, sent), daemon=True)
        for _ in range(32)
    ]
    for client in clients:
        client.start()
    try:
        time.sleep(1)  # every client has a body in flight
        # The probe runs in a process of its own, so the clients' threads never delay it.
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE, str(srv.port), "5"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        latencies = json.loads(probe.stdout)
    finally:
        stop.set()
        for client in clients:
            client.join(35)
    assert len(sent) >= 32 and set(sent) == {200}, set(sent)
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(
        f"healthz under load: {len(latencies)} probes, p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms; {len(sent)} bodies answered"
    )
    # Before the JSON thread: p50 2.6 s, p99 9 s on the same machine. The median is the
    # server's; the tail also holds the machine's own scheduling, as this test shares the CPUs
    # with the 32 clients and the rest of the suite (p99 60-90 ms alone, up to 0.4 s beside
    # it), so its bound is looser.
    assert p50 < 0.05 and p99 < 1, f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"


# --- what the OpenAPI document says is what the server takes -------------------------------------


def test_a_whole_number_written_as_a_float_is_an_integer_as_the_schema_says(start_server):
    srv = start_server({"MODEL_MODULE": f"{MODELS}.counts", "WEB_CONCURRENCY": "1"})
    srv.wait_ready()
    doc = srv.request("GET", "/openapi.json").json()
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["msg"]["items"] == {"type": "integer"}
    assert srv.post_json({"msg": [2.0, 3]}).json() == {"response": 5, "success": True}
    assert srv.request("GET", "/predict?msg=[2.0,1e1]").json() == {"response": 12, "success": True}
    assert_json_error(srv.post_json({"msg": [2.5]}), 422, "msg.0")
    assert_json_error(srv.post_json({"msg": ["2"]}), 422, "msg.0")


def test_the_document_lists_the_parsers_414_for_a_url_too_long(server):
    doc = server.request("GET", "/openapi.json").json()
    assert "414" in doc["paths"]["/predict"]["get"]["responses"]
    reply = server.raw(b"GET /predict?msg=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.status == 414


# --- what reaches the log -------------------------------------------------------------------------


def test_a_models_exception_text_cannot_forge_a_log_line(start_server):
    srv = start_server({"MODEL_MODULE": f"{MODELS}.crashing", "WEB_CONCURRENCY": "1"})
    srv.wait_ready()
    forged = "[1] [CRITICAL] forged"
    reply = srv.request("GET", "/predict?msg=raise:x%0A" + forged.replace(" ", "%20"))
    assert_json_error(reply, 500, "the model failed")
    assert srv.stop() == 0
    err = srv.stderr
    assert "ValueError: cannot read x\\x0a[1] [CRITICAL] forged" in err, err
    assert not any(line.startswith(forged) for line in err.splitlines()), err


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_an_api_key_in_the_query_string_never_reaches_the_log(start_server, log_format):
    key = "s3cret-Key-42"
    srv = start_server({"API_KEYS": key, "LOG_FORMAT": log_format, "WEB_CONCURRENCY": "1"})
    srv.wait_ready()
    auth = {"Authorization": f"Bearer {key}"}
    assert srv.request("GET", f"/predict?msg=hi&api_key={key}", headers=auth).status == 200
    assert srv.request("GET", f"/predict?msg=hi&token={key}x").status == 401
    assert srv.request("GET", f"/predict?msg={key}", headers=auth).status == 200
    assert srv.request("GET", "/predict?msg=monkey&key_ring=3", headers=auth).status == 200
    assert srv.stop() == 0
    out = srv.stdout
    assert key not in out and key.lower() not in out.lower(), out
    assert out.count("REDACTED") == 3, out
    assert "msg=monkey&key_ring=3" in out  # only credentials are redacted


# --- a worker's memory limit ----------------------------------------------------------------------


def test_a_worker_over_its_memory_limit_is_replaced_with_a_warning(start_server):
    srv = start_server(
        {
            "MODEL_MODULE": f"{MODELS}.hungry",
            "HOLD_MB": "120",
            "MAX_WORKER_MEMORY_MB": "100",
            "WEB_CONCURRENCY": "1",
        }
    ).wait_ready()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and srv.stderr.count("Spawning worker-1") < 2:
        time.sleep(0.2)
    err = srv.stderr
    assert srv.process.poll() is None, err
    warning = next(line for line in err.splitlines() if "over its limit" in line)
    assert "[WARNING]" in warning
    assert re.search(r"worker-1 \(pid \d+\) holds 1[2-9]\d MiB, over its limit of 100 MiB", warning)
    assert err.count("Spawning worker-1") >= 2, err  # its replacement
    srv.wait_ready(timeout=20)
    assert srv.request("GET", "/predict?msg=ok").json() == {"response": "ok", "success": True}


def test_a_worker_over_its_share_but_under_the_limit_is_warned_about_once_not_replaced(
    start_server,
):
    # 2 workers in 300 MiB: a share of 134 MiB each; a worker holding ~170 MiB is over its share
    # (warned) but far under the limit of 268 MiB (kept: the workers may well fit together).
    srv = start_server(
        {
            "MODEL_MODULE": f"{MODELS}.hungry",
            "HOLD_MB": "150",
            "CONTAINER_MEMORY_MB": "300",
            "WEB_CONCURRENCY": "2",
        }
    ).wait_ready()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and srv.stderr.count("more than its share") < 2:
        time.sleep(0.2)
    time.sleep(6)  # one more check: no second warning, no replacement
    err = srv.stderr
    warnings = [line for line in err.splitlines() if "more than its share" in line]
    assert len(warnings) == 2, err  # once per worker, not every 5 s
    assert all("[WARNING]" in w and "(134 MiB" in w for w in warnings), warnings
    assert "over its limit" not in err and err.count("Spawning worker-") == 2, err
    assert srv.request("GET", "/predict?msg=ok").json() == {"response": "ok", "success": True}


def test_the_memory_limit_is_each_workers_share_of_the_container(tmp_path):
    from app.server import ConfigError, cgroup_memory_mb, load_settings

    shares = load_settings({"CONTAINER_MEMORY_MB": "512", "WEB_CONCURRENCY": "2"})
    # Warned about past its share; replaced only past the container's memory (less the main
    # process's): resident memory counts the pages workers share, so a share as the limit
    # would replace workers that fit together.
    assert shares.worker_memory_share_mb == (512 - 32) // 2
    assert shares.max_worker_memory_mb == 512 - 32
    explicit = load_settings({"CONTAINER_MEMORY_MB": "512", "MAX_WORKER_MEMORY_MB": "300"})
    assert explicit.max_worker_memory_mb == 300
    off = load_settings({"CONTAINER_MEMORY_MB": "512", "MAX_WORKER_MEMORY_MB": "0"})
    assert off.max_worker_memory_mb is None
    with pytest.raises(ConfigError, match="MAX_WORKER_MEMORY_MB='lots' is not allowed"):
        load_settings({"MAX_WORKER_MEMORY_MB": "lots"})
    (tmp_path / "memory.max").write_text("536870912\n")  # cgroup v2: 512 MiB
    assert cgroup_memory_mb(tmp_path) == 512
    (tmp_path / "memory.max").write_text("max\n")
    assert cgroup_memory_mb(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # unlimited
    assert cgroup_memory_mb(v1) is None
