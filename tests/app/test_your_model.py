"""The template test: whatever model is in ``app/model.py`` (yours, once you have swapped it in)
is inspected, served by ``python -m app`` and asked its own example input.

It is the one test that depends on ``app/model.py``; every other test of the app serves the tests'
own models (``tests/app/models``). A model that needs its weights from ``MODEL_PATH`` gets them
from the environment ``make test`` runs in.

It never skips: a model without an example is sent the smallest input its schema accepts, and a
model whose schema says nothing to make one from (it takes any JSON value) fails, saying how to
declare an example. A model that cannot answer fails with the reason; a failed ``load()`` fails
as soon as ``/readyz`` says so, not after a timeout.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from openapi_spec_validator import validate

from app.contract import NO_EXAMPLE, describe_errors, load_spec
from app.openapi import document
from infra.smoke import NO_INSTANCE, Answer, is_final, schema_instance
from tests.app_process import Server

MODULE = os.environ.get("TEMPLATE_TEST_MODULE", "app.model")
"""The model module under test: ``app.model``; the project's tests of this test change it."""

LOAD_TIMEOUT = 300
"""Seconds a model may take to load (a big one, on a slow machine); a failed load ends it."""

HOW_TO_DECLARE = (
    "declare an example input in app/model.py: Field(examples=[...]) on predict's msg, e.g. "
    "def predict(msg: Annotated[str, Field(examples=['Hi'])]), or json_schema_extra examples "
    "on its BaseModel"
)


@pytest.fixture(scope="module")
def spec():
    return load_spec(MODULE)


def example_input(spec):
    """The model's declared example, or the smallest input its schema accepts."""
    if spec.example is not NO_EXAMPLE:
        return spec.example, "its example"
    made = schema_instance(spec.input_schema, spec.definitions)
    if made is NO_INSTANCE:
        pytest.fail(
            f"{MODULE} declares no example input, and its input schema "
            f"{json.dumps(spec.input_schema)} gives nothing to make one from: {HOW_TO_DECLARE}"
        )
    try:
        spec.validate(made)
    except Exception as e:
        why = describe_errors(e) if hasattr(e, "errors") else str(e)
        pytest.fail(
            f"{MODULE} declares no example input, and the one made from its schema, "
            f"{json.dumps(made)}, is refused ({why}): {HOW_TO_DECLARE}"
        )
    return made, f"an input made from its schema (it declares no example: {HOW_TO_DECLARE})"


def wait_until_ready(srv: Server) -> None:
    """Poll ``/readyz`` until 200; fail at once when the server exits or the load failed."""
    deadline = time.monotonic() + LOAD_TIMEOUT
    while time.monotonic() < deadline:
        if srv.process.poll() is not None:
            pytest.fail(
                f"python -m app exited with {srv.process.returncode} before {MODULE} was "
                f"ready:\n{srv.stderr[-3000:]}"
            )
        try:
            reply = srv.request("GET", "/readyz", timeout=2)
        except OSError:
            reply = None
        if reply is not None and reply.status == 200:
            return
        if reply is not None:
            answer = Answer(status=reply.status, body=reply.body.decode(errors="replace"))
            if is_final(answer):
                pytest.fail(
                    f"{MODULE} failed to load: /readyz answers {reply.status} "
                    f"{answer.body}\n{srv.stderr[-3000:]}"
                )
        time.sleep(0.1)
    pytest.fail(f"{MODULE} did not load within {LOAD_TIMEOUT} s:\n{srv.stderr[-3000:]}")


def test_your_model_keeps_the_contract_and_its_document_is_valid(spec):
    validate(document(spec))
    assert spec.version


def test_your_model_answers_its_own_example(spec, tmp_path):
    msg, source = example_input(spec)
    env = {"MODEL_MODULE": MODULE}
    for name in ("MODEL_PATH", "MODEL_SHA256"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    srv = Server(tmp_path, env)
    try:
        wait_until_ready(srv)
        reply = srv.post_json({"msg": msg})
        assert reply.status == 200, (
            f"{MODULE} could not answer {json.dumps(msg)} ({source}): {reply.status} "
            f"{reply.body[:500].decode(errors='replace')}\n{srv.stderr[-3000:]}"
        )
        body = reply.json()
        assert body["success"] is True
        if spec.output is not None:
            spec.output.validate_json(json.dumps(body["response"]), strict=True)
        assert reply.headers["x-model-version"] == spec.version
    finally:
        srv.stop()
