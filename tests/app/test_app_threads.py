"""The math libraries' threads: CPUs / workers per worker unless the user set them, in the
workers' environment before the model is imported; against a real ``python -m app``."""

from __future__ import annotations

import sys

import pytest

from app.server import THREAD_VARIABLES, available_cpus, thread_defaults

THREADS = "tests.app.models.threads"


@pytest.mark.parametrize(
    ("cpus", "workers", "threads"),
    [(2, 2, 1), (4, 2, 2), (0.25, 2, 1), (1, 2, 1), (8, 3, 2), (16, 8, 2), (3, 1, 3)],
)
def test_each_worker_gets_its_share_of_the_cpus(cpus, workers, threads):
    values = thread_defaults(workers, cpus)
    assert {values[name] for name in THREAD_VARIABLES} == {str(threads)}
    assert values["TOKENIZERS_PARALLELISM"] == ("true" if threads > 1 else "false")


def _seen(srv):
    reply = srv.request("GET", "/predict?msg=env")
    assert reply.status == 200, reply.body
    return reply.json()["response"]


def test_a_worker_sees_cpus_over_workers_in_every_variable(start_server):
    # Pinned to one CPU with one worker, then on every CPU with one worker: the model sees
    # 1 thread, then all the CPUs (the machine's cgroup limit, if it has one, caps them).
    pinned = [
        "taskset",
        "-c",
        "0",
        sys.executable,
        "-m",
        "app",
    ]
    srv = start_server({"MODEL_MODULE": THREADS, "WEB_CONCURRENCY": "1"}, pinned).wait_ready()
    seen = _seen(srv)
    assert seen == {**dict.fromkeys(THREAD_VARIABLES, "1"), "TOKENIZERS_PARALLELISM": "false"}
    assert "1 workers on 1 CPUs: the math libraries' threads per worker: 1" in srv.stderr

    wide = start_server({"MODEL_MODULE": THREADS, "WEB_CONCURRENCY": "1"}).wait_ready()
    cpus = int(available_cpus())
    assert _seen(wide)["OMP_NUM_THREADS"] == str(cpus)


def test_two_workers_on_two_cpus_get_one_thread_each(start_server):
    both = ["taskset", "-c", "0,1", sys.executable, "-m", "app"]
    srv = start_server({"MODEL_MODULE": THREADS, "WEB_CONCURRENCY": "2"}, both).wait_ready()
    assert _seen(srv)["OMP_NUM_THREADS"] == "1"
    assert _seen(srv)["OPENBLAS_NUM_THREADS"] == "1"


def test_what_the_user_set_is_kept_and_said(start_server):
    env = {"MODEL_MODULE": THREADS, "WEB_CONCURRENCY": "1", "OMP_NUM_THREADS": "3"}
    srv = start_server({**env, "TOKENIZERS_PARALLELISM": "true"}).wait_ready()
    seen = _seen(srv)
    assert seen["OMP_NUM_THREADS"] == "3" and seen["TOKENIZERS_PARALLELISM"] == "true"
    assert seen["MKL_NUM_THREADS"] == str(int(available_cpus()))  # the others still set
    assert "kept as you set them: OMP_NUM_THREADS=3, TOKENIZERS_PARALLELISM=true" in srv.stderr


def test_torch_in_a_worker_uses_its_share(start_server):
    pytest.importorskip("torch")
    pinned = ["taskset", "-c", "0,1", sys.executable, "-m", "app"]
    srv = start_server({"MODEL_MODULE": THREADS, "WEB_CONCURRENCY": "2"}, pinned).wait_ready()
    reply = srv.request("GET", "/predict?msg=torch", timeout=60)
    assert reply.json() == {"response": 1, "success": True}
