"""The template test: whatever model is in ``app/model.py`` (yours, once you have swapped it in)
is inspected, served by ``python -m app`` and asked its own example input.

It is the one test that depends on ``app/model.py``; every other test of the app serves the tests'
own models (``tests/app/models``). A model that needs its weights from ``MODEL_PATH`` gets them
from the environment ``make test`` runs in.
"""

from __future__ import annotations

import json
import os

import pytest
from openapi_spec_validator import validate

from app.contract import NO_EXAMPLE, load_spec
from app.openapi import document
from tests.app_process import Server


@pytest.fixture(scope="module")
def spec():
    return load_spec("app.model")


def test_your_model_keeps_the_contract_and_its_document_is_valid(spec):
    validate(document(spec))
    assert spec.version


def test_your_model_answers_its_own_example(spec, tmp_path):
    if spec.example is NO_EXAMPLE:
        pytest.skip(
            "app/model.py declares no example input: add Field(examples=[...]) to predict's msg "
            "(or json_schema_extra examples to its BaseModel) and this test will send it"
        )
    env = {"MODEL_MODULE": "app.model"}
    for name in ("MODEL_PATH", "MODEL_SHA256"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    srv = Server(tmp_path, env).wait_ready(timeout=60)
    try:
        reply = srv.post_json({"msg": spec.example})
        assert reply.status == 200, f"{reply.status}: {reply.body[:500]!r}\n{srv.stderr[-3000:]}"
        body = reply.json()
        assert body["success"] is True
        if spec.output is not None:
            spec.output.validate_json(json.dumps(body["response"]), strict=True)
        assert reply.headers["x-model-version"] == spec.version
    finally:
        srv.stop()
