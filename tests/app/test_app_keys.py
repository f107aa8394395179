"""API keys on ``/predict`` (``API_KEYS``), against a real server: no key, a wrong key, each of
two keys (rotation), both headers, and the health paths left open for the load balancers."""

from __future__ import annotations

import pytest

from app.server import ConfigError, load_settings
from tests.app_process import Server

KEYS = "k-one-7f3a9,k-two-b81c2"


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("keys"), {"API_KEYS": KEYS})
    yield srv.wait_ready()
    srv.stop()


def _unauthorised(reply, words):
    assert reply.status == 401
    assert reply.headers["www-authenticate"] == 'Bearer realm="model"'
    body = reply.json()
    assert set(body) == {"success", "error"} and body["success"] is False
    assert words in body["error"]


def test_predict_without_a_key_is_a_401_saying_which_header(locked):
    _unauthorised(locked.request("GET", "/predict?msg=x"), "Authorization: Bearer <key>")
    _unauthorised(locked.post_json({"msg": "x"}), "Authorization: Bearer <key>")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer k-one-7f3a"},  # a prefix of a key
        {"Authorization": "Bearer k-one-7f3a9,k-two-b81c2"},  # the whole variable
        {"Authorization": "Basic k-one-7f3a9"},
        {"X-API-Key": "nope"},
        {"Authorization": "Bearer "},
    ],
)
def test_a_wrong_key_is_a_401(locked, headers):
    reply = locked.request("GET", "/predict?msg=x", headers=headers)
    assert reply.status == 401
    assert "k-one" not in reply.body.decode()


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer k-one-7f3a9"},
        {"Authorization": "bearer k-two-b81c2"},
        {"X-API-Key": "k-two-b81c2"},
    ],
)
def test_each_key_opens_predict(locked, headers):
    reply = locked.request("GET", "/predict?msg=in", headers=headers)
    assert reply.json() == {"response": "in", "success": True}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json"])
def test_health_and_docs_stay_open_for_the_load_balancers(locked, path):
    assert locked.request("GET", path).status == 200


def test_keys_never_reach_the_log(locked):
    locked.request("GET", "/predict?msg=x", headers={"Authorization": "Bearer k-one-7f3a9"})
    locked.stop()
    assert "k-one" not in locked.stdout + locked.stderr


def test_without_api_keys_the_endpoint_is_open(server):
    assert server.request("GET", "/predict?msg=open").status == 200


@pytest.mark.parametrize("value", ["", "a,,b", "a b", " , ", "key\twith-tab"])
def test_a_bad_api_keys_value_is_refused_without_echoing_it(value):
    with pytest.raises(ConfigError) as caught:
        load_settings({"API_KEYS": value})
    assert "API_KEYS" in str(caught.value)
    if value.strip(" ,"):
        assert value not in str(caught.value)
