"""Adaptive batching (``@app.batch``) and clients that leave, against a real ``python -m app``.

The model is ``tests/app/models/batched.py``: it writes each batch it gets to ``BATCH_LOG``, so
the tests see which requests the server put together and which never reached the model.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import batch
from app.contract import ModelError, inspect_module
from tests.app_process import free_port

BATCHED = "tests.app.models.batched"


def _batches(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _get(srv, msg, timeout=10):
    return srv.request("GET", f"/predict?msg={msg}", timeout=timeout)


def _start(start_server, tmp_path, **env):
    log = tmp_path / "batches.jsonl"
    full = {"MODEL_MODULE": BATCHED, "WEB_CONCURRENCY": "1", "BATCH_LOG": str(log), **env}
    return start_server(full).wait_ready(), log


def _spaced(srv, msgs, gap=0.1, timeout=10):
    """Send ``msgs`` one by one ``gap`` seconds apart, each on its own connection, without
    waiting for the answers; return them in order."""
    pool = ThreadPoolExecutor(len(msgs))
    futures = []
    for msg in msgs:
        futures.append(pool.submit(_get, srv, msg, timeout))
        time.sleep(gap)
    replies = [f.result() for f in futures]
    pool.shutdown()
    return replies


# --- batches form, and each request gets its own answer ------------------------------------------


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(start_server, tmp_path):
    srv, log = _start(start_server, tmp_path)
    msgs = [f"m{i}" for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda m: _get(srv, m), msgs))
    for msg, reply in zip(msgs, replies, strict=True):
        assert reply.status == 200, reply.body
        assert reply.json() == {"response": msg.upper(), "success": True}
    batches = _batches(log)
    assert sorted(m for b in batches for m in b) == sorted(msgs)  # each ran once
    assert max(len(b) for b in batches) > 1, batches
    assert max(len(b) for b in batches) <= 8, batches  # the declared max_batch_size
    assert "takes batches of up to 8, waiting up to 50 ms" in srv.stderr


def test_a_lone_request_waits_at_most_the_maximum_wait(start_server, tmp_path):
    # BATCH_SECONDS=0: the model is instant, so a lone request's time is the wait plus HTTP.
    srv, _ = _start(start_server, tmp_path, BATCH_SECONDS="0", MAX_BATCH_WAIT_MS="300")
    _get(srv, "warm")
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        assert _get(srv, "lone").status == 200
        timings.append(time.perf_counter() - started)
    # Never more than one wait (the lane may also have learnt that no company comes: below).
    assert max(timings) < 0.3 + 0.25, timings


def test_a_lone_client_stops_waiting_for_company_that_does_not_come(start_server, tmp_path):
    # One client at a time, requests further apart than the 300 ms wait: once the lane has seen
    # a few such gaps, a request goes at once instead of waiting the whole 300 ms in vain.
    srv, _ = _start(start_server, tmp_path, BATCH_SECONDS="0", MAX_BATCH_WAIT_MS="300")
    timings = []
    for _ in range(6):
        time.sleep(0.4)  # further apart than the wait
        started = time.perf_counter()
        assert _get(srv, "lone").status == 200
        timings.append(time.perf_counter() - started)
    assert timings[0] >= 0.3, timings  # nothing seen yet: it waited
    assert max(timings[2:]) < 0.2, timings  # then it learnt that no company comes

    fast, _ = _start(start_server, tmp_path, BATCH_SECONDS="0", MAX_BATCH_WAIT_MS="0")
    _get(fast, "warm")
    started = time.perf_counter()
    assert _get(fast, "lone").status == 200
    assert time.perf_counter() - started < 0.2  # no wait at all


def test_requests_that_gathered_while_the_model_ran_go_at_once(start_server, tmp_path):
    # The wait counts from a request's arrival: requests that queued while the model was busy
    # have waited already. With a 1 s wait: 'slow' waits 1 s alone, then runs 2 s; the three
    # sent meanwhile go together as soon as it ends, not 1 s later.
    srv, log = _start(start_server, tmp_path, MAX_BATCH_WAIT_MS="1000")
    started = time.perf_counter()
    pool = ThreadPoolExecutor(1)
    first = pool.submit(_get, srv, "slow")
    time.sleep(1.3)
    replies = _spaced(srv, ["a", "b", "c"])
    elapsed = time.perf_counter() - started
    assert [r.status for r in replies] == [200, 200, 200]
    assert first.result().status == 200
    assert _batches(log) == [["slow"], ["a", "b", "c"]]
    assert elapsed < 1 + 2 + 0.1 + 0.4, elapsed  # not 1 s more for the wait
    pool.shutdown()


def test_a_bad_item_gets_its_own_422_and_its_batch_is_answered(start_server, tmp_path):
    srv, log = _start(start_server, tmp_path)
    pool = ThreadPoolExecutor(1)
    first = pool.submit(_get, srv, "slow")  # the others gather behind it
    time.sleep(0.3)
    too_long = "x" * 21  # the item schema: at most 20 characters
    replies = _spaced(srv, ["a", too_long, "refuse", "b"])
    assert [r.status for r in replies] == [200, 422, 422, 200], [r.body for r in replies]
    assert replies[0].json()["response"] == "A" and replies[3].json()["response"] == "B"
    assert "at most 20 characters" in replies[1].json()["error"]
    assert replies[2].json()["error"] == "the model refuses 'refuse'"
    assert first.result().status == 200
    # The item the schema refused never reached the model; the one the model refused did.
    assert _batches(log) == [["slow"], ["a", "refuse", "b"]]
    pool.shutdown()


def test_an_exception_fails_its_batch_only_and_is_logged_once(start_server, tmp_path):
    srv, log = _start(start_server, tmp_path, MAX_BATCH_SIZE="2")
    pool = ThreadPoolExecutor(1)
    first = pool.submit(_get, srv, "slow")
    time.sleep(0.3)
    replies = _spaced(srv, ["raise", "a", "b", "c"])
    assert [r.status for r in replies] == [500, 500, 200, 200], [r.body for r in replies]
    for reply in replies[:2]:
        error = reply.json()["error"]
        assert "failed on the batch" in error and "raise" not in error  # no model text out
    assert first.result().status == 200
    assert _batches(log) == [["slow"], ["raise", "a"], ["b", "c"]]
    assert srv.stderr.count("the model failed on a batch of 2") == 1
    assert srv.stderr.count("ValueError: this batch had 'raise' in it") == 1
    assert _get(srv, "after").json() == {"response": "AFTER", "success": True}


def test_a_wrong_number_of_answers_fails_the_batch_with_a_clear_line(start_server, tmp_path):
    srv, _ = _start(start_server, tmp_path)
    reply = _get(srv, "short")
    assert reply.status == 500
    assert (
        "tests.app.models.batched.predict returned 0 answers for a batch of 1 input: a @batch "
        "predict must return a list with one answer per input, in order" in srv.stderr
    )
    assert "Traceback" not in srv.stderr
    assert _get(srv, "ok").status == 200


def test_the_queue_bound_and_503_hold_with_batches(start_server, tmp_path):
    # MAX_QUEUE=2 with batches of 2: 'slow' runs, two wait; the fourth is shed with a 503.
    srv, _ = _start(start_server, tmp_path, MAX_QUEUE="2", MAX_BATCH_SIZE="2")
    pool = ThreadPoolExecutor(1)
    first = pool.submit(_get, srv, "slow")
    time.sleep(0.3)
    replies = _spaced(srv, ["a", "b", "c"])
    assert [r.status for r in replies] == [200, 200, 503]
    assert replies[2].headers["retry-after"] == "1"
    assert first.result().status == 200
    pool.shutdown()


def test_an_overrun_batch_answers_504_and_the_worker_is_replaced(start_server, tmp_path):
    srv, _ = _start(start_server, tmp_path, TIMEOUT="1")
    replies = _spaced(srv, ["slow", "a"], gap=0.02)  # one batch of two, which overruns
    assert [r.status for r in replies] == [504, 504], [r.body for r in replies]
    srv.wait_ready(timeout=15)
    assert _get(srv, "ok").status == 200


def test_the_openapi_document_describes_one_item(start_server, tmp_path):
    srv, _ = _start(start_server, tmp_path)
    doc = srv.request("GET", "/openapi.json").json()
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["msg"] == {
        "type": "string",
        "maxLength": 20,
        "examples": ["hi"],
    }
    answer = doc["components"]["schemas"]["PredictionEnvelope"]["properties"]["response"]
    assert answer == {"type": "string"}


def test_the_batch_sizes_are_a_metric(start_server, tmp_path):
    from tests.app.test_app_metrics import _scrape, _wait_for

    port = free_port()
    srv, _ = _start(start_server, tmp_path, METRICS_PORT=str(port))
    pool = ThreadPoolExecutor(1)
    first = pool.submit(_get, srv, "slow")
    time.sleep(0.3)
    assert [r.status for r in _spaced(srv, ["a", "b", "c"])] == [200, 200, 200]
    assert first.result().status == 200
    m = _wait_for(lambda: (s := _scrape(port)).get(("model_batch_size_count", ())) == 2 and s)
    assert m, _scrape(port)
    assert m[("model_batch_size_sum", ())] == 4  # a batch of 1, then one of 3
    assert m[("model_batch_size_bucket", (("le", "1.0"),))] == 1
    assert m[("model_batch_size_bucket", (("le", "4.0"),))] == 2


# --- the settings --------------------------------------------------------------------------------


def test_the_environment_overrides_the_declared_batch_size(start_server, tmp_path):
    srv, log = _start(start_server, tmp_path, MAX_BATCH_SIZE="3", MAX_BATCH_WAIT_MS="100")
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda i: _get(srv, f"m{i}"), range(16)))
    assert all(r.status == 200 for r in replies)
    sizes = [len(b) for b in _batches(log)]
    assert max(sizes) == 3 and sum(sizes) == 16, sizes
    assert "takes batches of up to 3, waiting up to 100 ms" in srv.stderr


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("MAX_BATCH_SIZE", "0", "an integer from 1 to 4096"),
        ("MAX_BATCH_SIZE", "many", "an integer from 1 to 4096"),
        ("MAX_BATCH_WAIT_MS", "-1", "an integer from 0 to 10000"),
        ("MAX_BATCH_WAIT_MS", "2.5", "an integer from 0 to 10000"),
    ],
)
def test_bad_batch_settings_stop_the_server_naming_the_variable(start_server, name, value, allowed):
    srv = start_server({name: value, "MODEL_MODULE": BATCHED})
    assert srv.process.wait(10) == 2
    assert f"{name}={value!r} is not allowed: use {allowed}" in srv.stderr


def test_batch_settings_for_a_model_without_batch_are_ignored_with_a_warning(start_server):
    srv = start_server({"MAX_BATCH_SIZE": "4"}).wait_ready()
    assert srv.request("GET", "/predict?msg=hi").json() == {"response": "hi", "success": True}
    assert "MAX_BATCH_SIZE and MAX_BATCH_WAIT_MS are ignored" in srv.stderr


# --- clients that leave --------------------------------------------------------------------------


def _leave_after(srv, msg, seconds):
    """Send a request, then close the connection after ``seconds`` without reading."""
    with socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.sendall(f"GET /predict?msg={msg} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        time.sleep(seconds)


@pytest.mark.parametrize("model", [BATCHED, "tests.app.models.slow"])
def test_a_client_that_left_costs_no_model_time_and_is_logged_499(start_server, tmp_path, model):
    # The model is busy for 2 s; four clients queue behind it and leave after 0.3 s. None of
    # them reaches the model (the slow model would sleep 1 s for each), each is logged 499.
    srv, log = _start(start_server, tmp_path, MODEL_MODULE=model)
    busy, leaving, after = ("slow", "gone", "after") if model == BATCHED else ("2", "1", "0")
    started = time.perf_counter()
    pool = ThreadPoolExecutor(1)
    first = pool.submit(_get, srv, busy)
    time.sleep(0.3)
    leavers = [threading.Thread(target=_leave_after, args=(srv, leaving, 0.3)) for _ in range(4)]
    for t in leavers:
        t.start()
    for t in leavers:
        t.join()
    assert first.result().status == 200
    assert _get(srv, after).status == 200
    assert time.perf_counter() - started < 2 + 0.9, "the model ran for clients that had left"
    time.sleep(0.2)  # the access log line is written as the answer leaves
    lines = srv.stdout.splitlines()
    gone = [line for line in lines if f"msg={leaving} " in line]
    assert len(gone) == 4 and all('HTTP/1.1" 499 ' in line for line in gone), lines
    for line in gone:  # logged as the client left, about 0.3 s after it came
        assert int(line.split()[-3].removesuffix("ms")) < 1000, line
    if model == BATCHED:
        assert _batches(log) == [["slow"], ["after"]]
    pool.shutdown()


def test_a_client_that_leaves_while_its_prediction_runs_is_logged_499(start_server, tmp_path):
    srv, log = _start(start_server, tmp_path)
    _leave_after(srv, "slow", 0.5)
    time.sleep(2)
    assert _get(srv, "after").status == 200
    time.sleep(0.2)
    line = next(line for line in srv.stdout.splitlines() if "msg=slow" in line)
    assert 'HTTP/1.1" 499 ' in line, line
    assert _batches(log) == [["slow"], ["after"]]


def test_a_failed_batch_is_logged_even_when_its_first_client_has_left(start_server, tmp_path):
    # One batch ['slow', 'raise']: it runs 2 s, then raises. The client of 'slow' leaves after
    # 0.5 s; the traceback is still logged, once, by the request still there.
    srv, log = _start(start_server, tmp_path)
    leaver = threading.Thread(target=_leave_after, args=(srv, "slow", 0.5))
    leaver.start()
    time.sleep(0.02)
    reply = _get(srv, "raise")
    leaver.join()
    assert reply.status == 500
    assert _batches(log) == [["slow", "raise"]]
    assert srv.stderr.count("ValueError: this batch had 'raise' in it") == 1
    time.sleep(0.2)
    assert 'msg=slow HTTP/1.1" 499 ' in srv.stdout


def test_a_keep_alive_connection_serves_requests_after_the_watch_ends(start_server, tmp_path):
    # The disconnect watch of each request is stopped with its answer: the same connection goes
    # on to serve the next one, and none of them is taken for a client that left.
    srv, _ = _start(start_server, tmp_path, MAX_BATCH_WAIT_MS="0", BATCH_SECONDS="0")
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    for i in range(20):
        conn.request("GET", f"/predict?msg=k{i}")
        reply = conn.getresponse()
        assert reply.status == 200 and json.loads(reply.read())["response"] == f"K{i}"
    conn.close()
    time.sleep(0.2)
    assert " 499 " not in srv.stdout


# --- the declaration -----------------------------------------------------------------------------


def _module(source):
    import types

    module = types.ModuleType("declared")
    exec(source, module.__dict__)
    return module


def test_batch_without_arguments_takes_the_defaults():
    spec = inspect_module(
        _module(
            "from app import batch\n@batch\ndef predict(msgs: list[int]) -> list[int]:\n  return msgs"
        )
    )
    assert (spec.max_batch_size, spec.max_wait_ms) == (32, 10.0)
    assert spec.input_schema == {"type": "integer"} and spec.output_schema == {"type": "integer"}


def test_an_unannotated_batch_takes_any_json_value():
    spec = inspect_module(
        _module(
            "from app import batch\n@batch(max_batch_size=4, max_wait_ms=0)\ndef predict(msgs):\n  return msgs"
        )
    )
    assert (spec.max_batch_size, spec.max_wait_ms, spec.input) == (4, 0.0, None)
    assert spec.predict([1, "a"]) == [1, "a"]  # still the user's own function


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("async def predict(msgs: list[str]) -> list[str]: return msgs", "async def"),
        ("def predict(msgs: str) -> list[str]: return msgs", "annotate its msgs as list[...]"),
        ("def predict(msgs: list[str]) -> str: return msgs", "annotate its return as list[...]"),
    ],
)
def test_a_batch_that_breaks_the_contract_is_refused(source, words):
    with pytest.raises(ModelError, match=words.replace("[", r"\[").replace(".", r"\.")):
        inspect_module(_module(f"from app import batch\n@batch\n{source}"))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"max_batch_size": 0}, "max_batch_size=0 must be from 1 to 4096"),
        ({"max_batch_size": 2.5}, "max_batch_size=2.5 must be an integer"),
        ({"max_batch_size": True}, "must be an integer"),
        ({"max_wait_ms": -1}, "max_wait_ms=-1 must be from 0 to 10000"),
        ({"max_wait_ms": float("nan")}, "max_wait_ms=nan must be from 0 to 10000"),
        ({"max_wait_ms": "10"}, "max_wait_ms='10' must be a number of milliseconds"),
    ],
)
def test_bad_batch_values_are_refused_where_they_are_declared(kwargs, words):
    with pytest.raises(ValueError, match=words):
        batch(**kwargs)
