"""Checks request parameters against the AWS APIs' own input models, as shipped in botocore.

Pulumi's mocks accept anything; AWS does not. Tests translate a rendered resource's inputs into
the request the provider will send (e.g. ECS RegisterTaskDefinition, ELBv2 CreateTargetGroup) and
`assert_valid` checks it the way the API would: unknown members, missing required members, types,
enums, and the length and range limits the model declares. String patterns are not checked
(the models' patterns are written for Java regular expressions).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape


@cache
def service_model(service: str) -> ServiceModel:
    """The botocore model of an AWS service (`ecs`, `elbv2`, `application-autoscaling`)."""
    return botocore.session.get_session().get_service_model(service)


def input_shape(service: str, operation: str) -> StructureShape:
    """The input shape of one API operation, e.g. ("ecs", "RegisterTaskDefinition")."""
    return service_model(service).operation_model(operation).input_shape


def problems(shape: Shape, value: Any, path: str = "$") -> list[str]:
    """Every way `value` breaks `shape`, each as `path: what is wrong`; empty when valid."""
    if value is None:
        return [f"{path}: null is not a value the API accepts ({shape.type_name} expected)"]
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, value, path)
    if kind == "list":
        return _list(shape, value, path)
    if kind == "map":
        return _map(shape, value, path)
    if kind == "string":
        return _string(shape, value, path)
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected an integer, got {value!r}"]
        return _range(shape, value, path)
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{path}: expected a number, got {value!r}"]
        return _range(shape, value, path)
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected a boolean, got {value!r}"]
    return [f"{path}: shape type {kind!r} is not supported by this validator"]


def assert_valid(service: str, operation: str, request: Mapping[str, Any]) -> None:
    """Fails with every problem found when `request` is not a valid `operation` input."""
    found = problems(input_shape(service, operation), dict(request))
    assert not found, f"{service}:{operation} would reject the request:\n" + "\n".join(found)


def _structure(shape: StructureShape, value: Any, path: str) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{path}: expected an object ({shape.name}), got {type(value).__name__}"]
    found = [
        f"{path}: unknown member {key!r} of {shape.name} (known: {', '.join(shape.members)})"
        for key in value
        if key not in shape.members
    ]
    found += [
        f"{path}: missing required member {key!r} of {shape.name}"
        for key in shape.required_members
        if key not in value
    ]
    for key, member_value in value.items():
        if key in shape.members:
            found += problems(shape.members[key], member_value, f"{path}.{key}")
    return found


def _list(shape: ListShape, value: Any, path: str) -> list[str]:
    if not isinstance(value, (list, tuple)):
        return [f"{path}: expected a list, got {type(value).__name__}"]
    found = _length(shape, len(value), path, "items")
    for index, item in enumerate(value):
        found += problems(shape.member, item, f"{path}[{index}]")
    return found


def _map(shape: MapShape, value: Any, path: str) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{path}: expected a map, got {type(value).__name__}"]
    found = _length(shape, len(value), path, "entries")
    for key, item in value.items():
        found += problems(shape.key, key, f"{path}<key {key!r}>")
        found += problems(shape.value, item, f"{path}[{key!r}]")
    return found


def _string(shape: Shape, value: Any, path: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: expected a string, got {value!r}"]
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        return [f"{path}: {value!r} is not one of {', '.join(enum)}"]
    return _length(shape, len(value), path, "characters")


def _length(shape: Shape, length: int, path: str, unit: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        return [f"{path}: {length} {unit}, at least {low} required"]
    if high is not None and length > high:
        return [f"{path}: {length} {unit}, at most {high} allowed"]
    return []


def _range(shape: Shape, value: float, path: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        return [f"{path}: {value} is below the minimum {low}"]
    if high is not None and value > high:
        return [f"{path}: {value} is above the maximum {high}"]
    return []
