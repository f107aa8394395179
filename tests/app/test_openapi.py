"""``GET /openapi.json``: valid OpenAPI 3.1 from the model's declarations, and the running
endpoint fuzzed from it with schemathesis: no 5xx, no answer that breaks the document."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from app.contract import load_spec
from app.openapi import document
from tests.app_process import SCHEMATHESIS, fuzz

MODELS = [
    "tests.app.models.echo",
    "tests.app.models.iris_like",
    "tests.app.models.numbers",
    "tests.app.models.loading",
    "tests.app.models.plain",
    "tests.app.models.counts",
    "app.model",
    "examples.minilm.model",
]


@pytest.mark.parametrize("module", MODELS)
def test_the_document_is_valid_openapi_3_1(module):
    doc = document(load_spec(module))
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {"/predict", "/healthz", "/readyz", "/openapi.json"}


def test_the_document_carries_the_schema_example_and_version():
    doc = document(load_spec("tests.app.models.iris_like"))
    assert doc["info"]["version"] == "flowers-2.1"
    body = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["msg"] == {"$ref": "#/components/schemas/Flower"}
    assert body["schema"]["examples"] == [{"msg": {"petal_length": 1.4, "petal_width": 0.2}}]
    flower = doc["components"]["schemas"]["Flower"]
    assert flower["required"] == ["petal_length", "petal_width"]
    assert flower["properties"]["petal_length"]["exclusiveMinimum"] == 0
    answer = doc["components"]["schemas"]["PredictionEnvelope"]["properties"]["response"]
    assert answer == {"$ref": "#/components/schemas/Answer"}
    query = doc["paths"]["/predict"]["get"]["parameters"][0]
    assert query["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Flower"}


def test_the_echo_takes_its_query_msg_as_a_string_with_its_example():
    doc = document(load_spec("tests.app.models.echo"))
    query = doc["paths"]["/predict"]["get"]["parameters"][0]
    assert query["schema"] == {"type": "string"}
    assert query["example"] == "Hi"


def test_one_text_or_a_list_takes_its_query_msg_with_the_texts_own_bounds():
    # (the example's module imports no torch until load())
    doc = document(load_spec("examples.minilm.model"))
    query = doc["paths"]["/predict"]["get"]["parameters"][0]
    assert query["schema"] == {"type": "string", "minLength": 1, "maxLength": 2000}
    assert query["example"] == "A man is eating food."


def test_the_server_serves_the_same_document(server):
    import json

    reply = server.request("GET", "/openapi.json")
    assert reply.status == 200
    assert json.loads(reply.body) == document(load_spec("tests.app.models.echo"))


@pytest.mark.skipif(SCHEMATHESIS is None, reason="schemathesis is in requirements-dev.txt")
@pytest.mark.parametrize(
    "module",
    [
        "tests.app.models.echo",
        "tests.app.models.iris_like",
        "tests.app.models.numbers",
        "tests.app.models.counts",
    ],
)
def test_fuzzing_the_running_endpoint_from_its_document_finds_nothing(
    start_server, tmp_path, module
):
    srv = start_server({"MODEL_MODULE": module}).wait_ready()
    result = fuzz(f"http://127.0.0.1:{srv.port}", tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "No issues found" in result.stdout
    assert "Traceback" not in srv.stderr
