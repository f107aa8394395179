"""``GET /openapi.json``: the endpoint described in OpenAPI 3.1, from the model's declarations.

The schemas themselves are pydantic's (JSON Schema 2020-12, OpenAPI 3.1's dialect); this module
only says where they go: ``msg`` in the query string and in the JSON body, the answer, the
errors and the headers every answer carries.
"""

from __future__ import annotations

from typing import Any

from app.contract import NO_EXAMPLE, ModelSpec

OPENAPI_VERSION = "3.1.0"


def document(spec: ModelSpec) -> dict[str, Any]:
    """The OpenAPI document for ``spec``'s endpoint.

    Args:
        spec: The model, inspected.
    """
    # The envelope's own schemas, named so as not to clash with the model's (a model may well
    # call its answer "Prediction").
    answer_name = _free_name("PredictionEnvelope", spec.definitions)
    error_name = _free_name("ErrorEnvelope", spec.definitions)
    answer_ref = {"$ref": f"#/components/schemas/{answer_name}"}
    error_ref = {"$ref": f"#/components/schemas/{error_name}"}
    message = spec.input_schema or {
        "description": "Any JSON value; from the query string, a string."
    }
    if spec.query_is_text:
        # A query string carries text: the schema's own when it is a string schema.
        text = _string_schema(spec.input_schema)
        query_param: dict[str, Any] = {"schema": {"type": "string", **text}}
    else:
        # A structured msg in a query string is JSON-encoded: ?msg=[5.1,3.5,1.4,0.2]
        query_param = {"content": {"application/json": {"schema": spec.input_schema}}}
    body_schema: dict[str, Any] = {
        "type": "object",
        "properties": {"msg": message},
        "required": ["msg"],
        "description": "Keys other than msg are ignored.",
    }
    if spec.example is not NO_EXAMPLE:
        body_schema["examples"] = [{"msg": spec.example}]
        if spec.query_is_text and isinstance(spec.example, str):
            query_param["example"] = spec.example

    def answers(*errors: int) -> dict[str, Any]:
        out = {"200": _json("The model's answer.", answer_ref)}
        out.update({str(code): _error_response(code, error_ref) for code in errors})
        return out

    predict_errors = (400, 422, 500, 503, 504)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Model endpoint",
            "version": spec.version,
            "description": (
                f"The model {spec.name} (version {spec.version}) behind echo-service's runtime. "
                "Every answer carries the model's version in X-Model-Version."
            ),
        },
        "paths": {
            "/predict": {
                "get": {
                    "operationId": "predictFromQuery",
                    "summary": "Predict from the query string's msg",
                    "parameters": [{"name": "msg", "in": "query", "required": True, **query_param}],
                    "responses": {**answers(*predict_errors), "414": _URI_TOO_LONG},
                },
                "post": {
                    "operationId": "predict",
                    "summary": "Predict from the JSON body's msg",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": body_schema}},
                    },
                    "responses": answers(*predict_errors, 408, 413, 415),
                },
            },
            "/healthz": {
                "get": {
                    "operationId": "liveness",
                    "summary": "Liveness: the process answers (never waits for the model)",
                    "responses": {"200": _json("Alive.", _status("ok"))},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readiness",
                    "summary": "Readiness: the model has loaded in the worker that answers",
                    "responses": {
                        "200": _json("Ready.", _status("ready")),
                        "503": _error_response(503, error_ref),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": _json("The OpenAPI document.", {"type": "object"})},
                }
            },
        },
        "components": {
            "schemas": {
                **spec.definitions,
                answer_name: {
                    "type": "object",
                    "properties": {
                        "response": spec.output_schema
                        or {"description": "The model's answer: any JSON value."},
                        "success": {"const": True},
                    },
                    "required": ["response", "success"],
                    "additionalProperties": False,
                },
                error_name: {
                    "type": "object",
                    "properties": {
                        "success": {"const": False},
                        "error": {"type": "string", "minLength": 1},
                    },
                    "required": ["success", "error"],
                    "additionalProperties": False,
                },
            },
            "headers": {
                "X-Model-Version": {
                    "description": "The version of the model that answered.",
                    "schema": {"type": "string"},
                    "required": True,
                },
                "Retry-After": {
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                },
            },
        },
    }


_WHY = {
    400: "No msg, or a body that is not a JSON object (malformed, not UTF-8, cut short).",
    408: "The body did not arrive within BODY_TIMEOUT.",
    413: "The body is larger than MAX_CONTENT_LENGTH.",
    415: "The body's Content-Type is not JSON.",
    422: "msg does not match the model's input schema, or the model refused it.",
    500: "The model failed on this input (details in the server log).",
    503: "The model is not loaded yet, or the queue is full: retry after Retry-After.",
    504: "The model ran longer than TIMEOUT.",
}


def _string_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """What a query string's text must meet: the input schema when it is a string schema, or its
    string branch (``str | list[str]``: the query's text is validated as the string), else {}."""
    if schema.get("type") == "string":
        return schema
    for branch in schema.get("oneOf", schema.get("anyOf", [])):
        if branch.get("type") == "string":
            return branch
    return {}


_URI_TOO_LONG = {
    "description": (
        "The URL (with the query string) is longer than the HTTP parser takes; the server's "
        "parser answers with an empty body. Send a long msg in a POST body instead."
    )
}


def _version_header() -> dict[str, Any]:
    return {"X-Model-Version": {"$ref": "#/components/headers/X-Model-Version"}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _version_header(),
        "content": {"application/json": {"schema": schema}},
    }


def _free_name(base: str, taken: dict[str, Any]) -> str:
    name = base
    while name in taken:
        name = "_" + name
    return name


def _error_response(code: int, error_ref: dict[str, Any]) -> dict[str, Any]:
    response = _json(_WHY[code], error_ref)
    if code == 503:
        response["headers"] = {
            **response["headers"],
            "Retry-After": {"$ref": "#/components/headers/Retry-After"},
        }
    return response


def _status(value: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"status": {"const": value}},
        "required": ["status"],
    }
