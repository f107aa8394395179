"""The app factory with Flask's test client: the predictor plug point and error handling."""

from __future__ import annotations

import json
import logging

import pytest
from werkzeug.exceptions import BadRequest

from app import DEFAULT_MAX_CONTENT_LENGTH, create_app, model


def client(**config):
    return create_app(config or None).test_client()


def test_the_default_predictor_is_the_echo_in_app_model():
    app = create_app()
    assert app.config["PREDICTOR"] is model.predict
    assert app.config["MAX_CONTENT_LENGTH"] == DEFAULT_MAX_CONTENT_LENGTH == 1024 * 1024
    reply = app.test_client().get("/predict?msg=Hi_from_docker")
    assert reply.get_json() == {"response": "Hi_from_docker", "success": True}


@pytest.mark.parametrize("msg", ["Hi", 0, None, [1, {"a": "ü"}]])
def test_the_echo_model_returns_its_input_unchanged(msg):
    assert model.predict(msg) is msg


def test_a_second_predictor_plugs_in_through_config():
    def sentiment(msg):
        return {"label": "positive" if "good" in msg else "negative", "length": len(msg)}

    c = client(PREDICTOR=sentiment)
    assert c.get("/predict?msg=good+day").get_json() == {
        "response": {"label": "positive", "length": 8},
        "success": True,
    }
    assert c.post("/predict", json={"msg": "bad"}).get_json() == {
        "response": {"label": "negative", "length": 3},
        "success": True,
    }


def test_the_predictor_gets_msg_as_sent_and_its_answer_is_returned_as_is():
    seen = []

    def record(msg):
        seen.append(msg)
        return [msg, "seen"]

    c = client(PREDICTOR=record)
    c.post("/predict", json={"msg": {"x": [1, 2.5]}})
    c.get("/predict?msg=42")
    assert seen == [{"x": [1, 2.5]}, "42"]  # a query string only has strings


def test_healthz_never_calls_the_model():
    def fail(msg):
        raise AssertionError("the model was called")

    reply = client(PREDICTOR=fail).get("/healthz")
    assert reply.status_code == 200
    assert reply.get_json() == {"status": "ok"}


def test_a_failing_predictor_is_a_logged_json_500_without_the_traceback(caplog):
    def crash(msg):
        raise RuntimeError("secret internal detail")

    with caplog.at_level(logging.ERROR):
        reply = client(PREDICTOR=crash).get("/predict?msg=Hi")
    assert reply.status_code == 500
    assert reply.is_json
    assert reply.get_json()["success"] is False
    assert "secret" not in reply.get_data(as_text=True)
    assert "secret internal detail" in caplog.text
    assert "Traceback" in caplog.text


@pytest.mark.parametrize("answer", [object(), float("nan"), {1, 2}], ids=repr)
def test_an_answer_that_is_not_json_is_a_json_500(answer):
    reply = client(PREDICTOR=lambda msg: answer).get("/predict?msg=Hi")
    assert reply.status_code == 500
    assert reply.get_json()["success"] is False


def test_a_predictor_can_reject_an_input_with_a_4xx():
    def picky(msg):
        if not isinstance(msg, list):
            raise BadRequest("msg must be a list of numbers")
        return sum(msg)

    c = client(PREDICTOR=picky)
    reply = c.get("/predict?msg=Hi")
    assert reply.status_code == 400
    assert reply.get_json() == {"error": "msg must be a list of numbers", "success": False}
    assert c.post("/predict", json={"msg": [1, 2]}).get_json()["response"] == 3


def test_max_content_length_is_configurable():
    c = client(MAX_CONTENT_LENGTH=20)
    assert c.post("/predict", json={"msg": "short"}).status_code == 200
    reply = c.post("/predict", json={"msg": "x" * 20})
    assert reply.status_code == 413
    assert reply.get_json() == {
        "error": "the body is larger than the limit of 20 bytes",
        "success": False,
    }


def test_a_predictor_that_is_not_callable_is_refused():
    with pytest.raises(TypeError, match="PREDICTOR must be callable"):
        create_app({"PREDICTOR": "app.model:predict"})


def test_each_app_has_its_own_predictor():
    a = client(PREDICTOR=lambda msg: "a")
    b = client(PREDICTOR=lambda msg: "b")
    assert a.get("/predict?msg=x").get_json()["response"] == "a"
    assert b.get("/predict?msg=x").get_json()["response"] == "b"


def test_unicode_is_returned_exactly():
    msg = "naïve café · 日本語 · 🤖 · \u2028"
    reply = client().post("/predict", json={"msg": msg})
    assert reply.get_json()["response"] == msg


def test_unknown_paths_and_methods_are_json_errors():
    c = client()
    for reply, status in ((c.get("/nope"), 404), (c.delete("/predict"), 405)):
        assert reply.status_code == status
        assert reply.is_json
        assert reply.get_json()["success"] is False


@pytest.mark.parametrize(
    "value",
    [{"response": "Hi", "success": True}, {"b": 1, "a": [None, 1.5, "é 👋"]}, "x", []],
    ids=repr,
)
def test_the_json_answers_are_what_flask_s_json_dumps_writes(value):
    app = create_app()
    assert app.json.dumps(value) == json.dumps(
        value, default=app.json.default, ensure_ascii=True, sort_keys=True, allow_nan=False
    )
    app.json.sort_keys = False  # a provider setting changed later is honoured
    app.json.ensure_ascii = False
    assert app.json.dumps(value) == json.dumps(
        value, default=app.json.default, ensure_ascii=False, allow_nan=False
    )
    with pytest.raises(ValueError, match="JSON compliant"):
        app.json.dumps({"x": float("inf")})


def test_a_get_without_body_headers_and_with_them_read_msg_alike():
    c = client()
    plain = c.get("/predict?msg=Hi").get_json()
    assert plain == {"response": "Hi", "success": True}
    assert c.get("/predict?msg=Hi", headers={"Content-Length": "0"}).get_json() == plain
    assert c.post("/predict?msg=Hi", headers={"Content-Length": ""}).get_json() == plain
