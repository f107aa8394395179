"""Checks request parameters against the AWS APIs' own input models, as shipped in botocore.

Pulumi's mocks accept anything; AWS does not. Tests translate a rendered resource's inputs into
the request the provider will send (e.g. ECS RegisterTaskDefinition, ELBv2 CreateTargetGroup) and
`assert_valid` checks it the way the API would: unknown members, missing required members, types,
enums, the length and range limits the model declares, and the strings' patterns. The models'
patterns are Java regular expressions (`java.util.regex`, matched against the whole value): the
`regex` package reads them, once the UTF-16 surrogate pairs Java writes for characters beyond
U+FFFF are turned into the code points they stand for.

`member_shape` finds the shape of one member of a request (`Rules`,
`IpPermissions[].IpRanges[].Description`) and `conform` spells a rendered value's camelCase keys
as the model's members, so the rules table in tests/infra/cloud_rules.py can check each rendered
input against its own member.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import botocore.session
import regex
from botocore.model import ListShape, MapShape, ServiceModel, Shape, StructureShape


@cache
def service_model(service: str) -> ServiceModel:
    """The botocore model of an AWS service (`ecs`, `elbv2`, `application-autoscaling`)."""
    return botocore.session.get_session().get_service_model(service)


def input_shape(service: str, operation: str) -> StructureShape:
    """The input shape of one API operation, e.g. ("ecs", "RegisterTaskDefinition")."""
    return service_model(service).operation_model(operation).input_shape


def member_shape(service: str, operation: str, member: str = "") -> Shape:
    """The shape of one member of an operation's input: `Name`, `Rules`, `A[].B` (`[]`: an
    item; names match without regard to case); the whole input for "".

    Raises KeyError when the model has no such member, so a table naming one fails at import.
    """
    shape: Shape = input_shape(service, operation)
    for part in member.replace("[]", ".[]").split("."):
        if not part:
            continue
        if part == "[]":
            if not isinstance(shape, ListShape):
                raise KeyError(f"{service}:{operation} {member}: {shape.name} is not a list")
            shape = shape.member
            continue
        names = {n.lower(): n for n in shape.members} if isinstance(shape, StructureShape) else {}
        if part.lower() not in names:
            raise KeyError(f"{service}:{operation} has no member {member!r} ({part!r})")
        shape = shape.members[names[part.lower()]]
    return shape


def conform(shape: Shape, value: Any, renames: Mapping[str, str] | None = None) -> Any:
    """`value` with its keys spelt as the model's members (`cloudwatchMetricsEnabled` ->
    `CloudWatchMetricsEnabled`), matched without regard to case; `renames` maps the keys that
    differ otherwise. Keys that match nothing stay, for `problems` to report."""
    renames = renames or {}
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        by_lower = {name.lower(): name for name in shape.members}
        out = {}
        for key, item in value.items():
            name = renames.get(key) or by_lower.get(key.lower(), key)
            member = shape.members.get(name)
            out[name] = conform(member, item, renames) if member is not None else item
        return out
    if isinstance(shape, ListShape) and isinstance(value, (list, tuple)):
        return [conform(shape.member, item, renames) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, Mapping):
        return {key: conform(shape.value, item, renames) for key, item in value.items()}
    return value


def problems(shape: Shape, value: Any, path: str = "$", *, required: bool = True) -> list[str]:
    """Every way `value` breaks `shape`, each as `path: what is wrong`; empty when valid.

    With `required=False` missing required members are not reported: for a part of a request.
    """
    if value is None:
        return [f"{path}: null is not a value the API accepts ({shape.type_name} expected)"]
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape, value, path, required)
    if kind == "list":
        return _list(shape, value, path, required)
    if kind == "map":
        return _map(shape, value, path, required)
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


def _structure(shape: StructureShape, value: Any, path: str, required: bool) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{path}: expected an object ({shape.name}), got {type(value).__name__}"]
    found = [
        f"{path}: unknown member {key!r} of {shape.name} (known: {', '.join(shape.members)})"
        for key in value
        if key not in shape.members
    ]
    if required:
        found += [
            f"{path}: missing required member {key!r} of {shape.name}"
            for key in shape.required_members
            if key not in value
        ]
    for key, member_value in value.items():
        if key in shape.members:
            found += problems(shape.members[key], member_value, f"{path}.{key}", required=required)
    return found


def _list(shape: ListShape, value: Any, path: str, required: bool) -> list[str]:
    if not isinstance(value, (list, tuple)):
        return [f"{path}: expected a list, got {type(value).__name__}"]
    found = _length(shape, len(value), path, "items")
    for index, item in enumerate(value):
        found += problems(shape.member, item, f"{path}[{index}]", required=required)
    return found


def _map(shape: MapShape, value: Any, path: str, required: bool) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{path}: expected a map, got {type(value).__name__}"]
    found = _length(shape, len(value), path, "entries")
    for key, item in value.items():
        found += problems(shape.key, key, f"{path}<key {key!r}>", required=required)
        found += problems(shape.value, item, f"{path}[{key!r}]", required=required)
    return found


def _string(shape: Shape, value: Any, path: str) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: expected a string, got {value!r}"]
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        return [f"{path}: {value!r} is not one of {', '.join(enum)}"]
    pattern = shape.metadata.get("pattern")
    if pattern and not java_pattern(pattern).fullmatch(value):
        return [f"{path}: {value!r} does not match the pattern {pattern} ({shape.name})"]
    return _length(shape, len(value), path, "characters")


# A character beyond U+FFFF written as a Java UTF-16 surrogate pair: \uD800\uDC00 is U+10000.
_SURROGATE_PAIR = regex.compile(r"\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})", regex.IGNORECASE)


@cache
def java_pattern(pattern: str) -> regex.Pattern[str]:
    """A botocore model's pattern (a Java regular expression) compiled for Python."""

    def code_point(pair: regex.Match[str]) -> str:
        high, low = int(pair[1], 16), int(pair[2], 16)
        return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08X}"

    return regex.compile(_SURROGATE_PAIR.sub(code_point, pattern))


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
