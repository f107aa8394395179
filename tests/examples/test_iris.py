"""The scikit-learn example, installed as a user would: ``examples/iris/model.py`` over a copy of
``app/``, trained by its own script, served by ``python -m app``; then the contract, the schema,
a fuzz run and the smoke check against it."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn", reason="scikit-learn is in requirements-dev.txt")

from tests.app_process import REPO, Server

EXAMPLE = REPO / "examples" / "iris"
FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A project folder whose app/ has the iris model and its trained weights."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "app", root / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(EXAMPLE / "model.py", root / "app" / "model.py")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "train.py"), "--out", str(root / "app" / "model.joblib")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "held-out accuracy 0.9" in done.stdout
    return root


@pytest.fixture(scope="module")
def iris(installed, tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("iris"), {"MODEL_MODULE": "app.model"}, cwd=installed)
    yield srv.wait_ready(timeout=30)
    srv.stop()


def test_the_example_answers_its_own_example_input(iris):
    reply = iris.post_json({"msg": FLOWER})
    assert reply.status == 200
    assert reply.json()["success"] is True
    assert reply.json()["response"]["species"] == "setosa"
    assert 0.5 < reply.json()["response"]["probability"] <= 1
    assert reply.headers["x-model-version"] == "iris-logreg-1.0.0"


@pytest.mark.parametrize(
    ("msg", "words"),
    [
        ({**FLOWER, "petal_width": "wide"}, "msg.petal_width"),
        (
            {k: v for k, v in FLOWER.items() if k != "sepal_length"},
            "msg.sepal_length: Field required",
        ),
        ({**FLOWER, "colour": "blue"}, "msg.colour: Extra inputs are not permitted"),
        ({**FLOWER, "petal_length": 0}, "greater than 0"),
        ([5.1, 3.5, 1.4, 0.2], "msg:"),
    ],
)
def test_the_schema_refuses_bad_flowers_naming_the_field(iris, msg, words):
    reply = iris.post_json({"msg": msg})
    assert reply.status == 422
    assert words in reply.json()["error"]


def test_a_flower_in_the_query_string_is_json(iris):
    import json
    from urllib.parse import quote

    reply = iris.request("GET", "/predict?msg=" + quote(json.dumps(FLOWER)))
    assert reply.json()["response"]["species"] == "setosa"


def test_the_weights_can_come_from_model_path_with_their_sha256(installed, tmp_path):
    weights = tmp_path / "elsewhere.joblib"
    shutil.move(installed / "app" / "model.joblib", weights)
    try:
        sha = hashlib.sha256(weights.read_bytes()).hexdigest()
        env = {"MODEL_MODULE": "app.model", "MODEL_PATH": str(weights), "MODEL_SHA256": sha}
        srv = Server(tmp_path, env, cwd=installed).wait_ready(timeout=30)
        try:
            assert srv.post_json({"msg": FLOWER}).json()["response"]["species"] == "setosa"
        finally:
            srv.stop()
    finally:
        shutil.move(weights, installed / "app" / "model.joblib")


def test_the_smoke_check_passes_against_the_example(iris):
    done = subprocess.run(
        [sys.executable, "-m", "infra.smoke", f"http://127.0.0.1:{iris.port}", "--timeout", "20"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(SCHEMATHESIS is None, reason="schemathesis is in requirements-dev.txt")
def test_fuzzing_the_example_from_its_document_finds_nothing(iris, tmp_path):
    done = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"http://127.0.0.1:{iris.port}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--no-color",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout[-4000:]
