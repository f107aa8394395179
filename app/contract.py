"""What a model module declares, read once per worker: ``ModelSpec``.

A model module (``app/model.py`` unless ``MODEL_MODULE`` names another) must define
``predict(msg)``. Everything else is optional, and each is declared the way the Python ML world
already does it:

* **a load step**: ``load()``, run once in each worker before it reports ready (``/readyz``),
  in the thread that later runs every ``predict``;
* **an input schema**: the annotation of ``predict``'s one parameter, any type pydantic
  validates (``str``, ``list[float]``, a ``pydantic.BaseModel``, ``Annotated[...]`` with
  constraints). It is checked before ``predict`` is called; a bad input gets a 422 naming the
  field. Without one, ``msg`` is any JSON value, passed on as it came;
* **an output schema**: ``predict``'s return annotation; an answer that does not match it is the
  model's fault (500), so no client ever gets an answer that breaks the published schema;
* **an example input**: JSON Schema's ``examples``, which pydantic writes from
  ``Field(examples=[...])`` or a model's ``model_config = {"json_schema_extra": {"examples":
  [...]}}``. The docs, the template test and the smoke check send the first one;
* **a version**: ``__version__``, sent with every answer as ``X-Model-Version`` and written in
  every access log line. Without it, the version is ``sha256:`` and the first 12 hex digits of
  the module's source, so an answer still says which code gave it.
* **a batch form**: ``@app.batch(max_batch_size=..., max_wait_ms=...)`` on
  ``predict(msgs: list[Item]) -> list[Answer]``. The input schema is then ``Item`` (each request
  sends one) and the output schema ``Answer``; the runner gathers requests into the list.

Nothing here imports the model's own libraries: the module is imported by ``load_spec``.
"""

from __future__ import annotations

import collections.abc
import hashlib
import importlib
import inspect
import json
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pydantic
from pydantic import JsonValue, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["DEFAULT_MODULE", "ModelError", "ModelSpec", "describe_errors", "inspect_module"]

DEFAULT_MODULE = "app.model"

NO_EXAMPLE: Any = object()
"""``ModelSpec.example`` when the schema declares none."""

_JSON_ENCODE = json.JSONEncoder(allow_nan=False).encode

FLOAT_MAX = 1.7976931348623157e308


def loads_strict(text: str) -> Any:
    """JSON as RFC 8259 has it, and only values a model can take: no ``NaN``/``Infinity``, and
    no number beyond what a double holds (``1e400``, or an integer of 400 digits, would become
    infinity on the way to a float). Raises ``ValueError`` with the reason."""
    return json.loads(
        text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_int_in_range
    )


class UnsafeNumberError(ValueError):
    """A JSON number no model should get: NaN, Infinity, or one beyond a double's range."""


def _reject_constant(name: str) -> Any:
    raise UnsafeNumberError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeNumberError(f"number {text[:20]} is out of range")
    return value


def _int_in_range(text: str) -> int:
    value = int(text)
    if abs(value) > FLOAT_MAX:
        raise UnsafeNumberError(f"number {text[:20]}... is out of range")
    return value


REF_PREFIX = "#/components/schemas/"
REF_TEMPLATE = REF_PREFIX + "{model}"
"""Where the OpenAPI document keeps the schemas' named parts (pydantic's ``$defs``)."""


class ModelError(Exception):
    """The model module breaks the contract (no ``predict``, a schema pydantic cannot use...)."""


@dataclass(frozen=True)
class ModelSpec:
    """A model module, inspected.

    Attributes:
        name: The module's dotted name.
        predict: The module's ``predict``.
        load: The module's ``load``, or None.
        version: ``__version__``, or ``sha256:<12 hex digits of the source>``.
        input: Validates ``msg``; None when ``msg`` may be any JSON value (no annotation).
        output: Validates and serialises the answer; None when ``predict`` has no return
            annotation.
        query_is_text: A ``?msg=`` value is handed on as the string it is when the schema
            takes a string as it is (``str``, any JSON value, no schema); otherwise it is read
            as JSON first, so ``?msg=[1,2]`` is a list and ``?msg=5`` a number.
        input_schema: The input's JSON Schema (2020-12, as OpenAPI 3.1 uses), named parts
            referenced under ``#/components/schemas/``.
        output_schema: The answer's JSON Schema, likewise.
        definitions: The named parts both schemas refer to.
        example: The first example of the input schema, or ``NO_EXAMPLE``.
        is_async: ``predict`` is a coroutine function: it runs on the worker's event loop (for
            a model that awaits, e.g. another service), not in the model thread.
        load_takes_path: ``load`` takes one argument: the weights file's path (``MODEL_PATH``,
            or None when it is not set).
        max_batch_size: With ``@batch``, the most inputs per call; 0: ``predict`` takes one.
        max_wait_ms: With ``@batch``, the most a request waits for others to join it.
    """

    name: str
    predict: Callable[[Any], Any]
    load: Callable[[], Any] | None
    version: str
    input: TypeAdapter[Any] | None
    output: TypeAdapter[Any] | None
    query_is_text: bool
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    definitions: dict[str, Any] = field(default_factory=dict)
    example: Any = NO_EXAMPLE
    is_async: bool = False
    load_takes_path: bool = False
    max_batch_size: int = 0
    max_wait_ms: float = 0.0

    @property
    def batched(self) -> bool:
        """``predict`` takes a list of inputs (``@batch``)."""
        return self.max_batch_size > 0

    def validate(self, value: Any, from_query: bool = False) -> Any:
        """``msg`` as ``predict`` gets it; raises ``pydantic.ValidationError`` if it breaks the
        schema, ``UnsafeNumberError`` for a query value with NaN, Infinity or an out-of-range
        number.

        Validation is pydantic's strict JSON mode: what the published JSON Schema says is what
        is accepted (``"1.4"`` is not a number, ``false`` is not 0), while the types JSON
        carries as strings (dates, UUIDs, enums) are still read from their strings.
        """
        if self.input is None:
            return value
        if from_query:
            if self.query_is_text:
                return self.input.validate_python(value, strict=True)
            try:
                value = loads_strict(value)
            except RecursionError:
                raise UnsafeNumberError("msg is nested too deeply") from None
            except json.JSONDecodeError:
                # Not JSON: let the schema say what it wanted ("a valid integer", ...).
                return self.input.validate_python(value, strict=True)
            # (UnsafeNumberError propagates: NaN, Infinity, 1e400 are a 400, as in a body.)
        return self.input.validate_json(_JSON_ENCODE(value), strict=True)

    def serialise(self, answer: Any) -> Any:
        """The answer as plain JSON values; raises ``pydantic.ValidationError`` if it breaks
        the declared return type."""
        if self.output is None:
            return answer
        return self.output.dump_python(self.output.validate_python(answer), mode="json")


def load_spec(name: str = DEFAULT_MODULE) -> ModelSpec:
    """Import the model module ``name`` and inspect it.

    Raises:
        ModelError: The module cannot be found, or breaks the contract. Exceptions raised by the
            module's own code while it is imported propagate as they are (with their traceback).
    """
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise ModelError(
                f"MODEL_MODULE={name!r}: no such module (a dotted module name importable from "
                "the working directory, such as app.model)"
            ) from None
        raise
    return inspect_module(module)


def inspect_module(module: ModuleType) -> ModelSpec:
    """Read what ``module`` declares (see the module docstring).

    Raises:
        ModelError: ``predict`` is missing or takes other than one argument, ``load`` is not
            callable, ``__version__`` is not a string, or an annotation is not a type pydantic
            can validate.
    """
    where = module.__name__
    predict = getattr(module, "predict", None)
    if not callable(predict):
        raise ModelError(f"{where}: define a function predict(msg); it is missing")
    load = getattr(module, "load", None)
    if load is not None and not callable(load):
        raise ModelError(f"{where}: load must be a function: load() or load(path)")
    load_takes_path = False
    if load is not None:
        try:
            load_params = inspect.signature(load).parameters.values()
        except (TypeError, ValueError):
            load_params = []  # type: ignore[assignment]
        positional = [
            p for p in load_params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        required = [p for p in positional if p.default is p.empty]
        if len(required) > 1:
            raise ModelError(f"{where}: load must take no argument, or one: the weights' path")
        load_takes_path = bool(positional)
    version = getattr(module, "__version__", None)
    if version is None:
        version = "sha256:" + _source_digest(module)[:12]
    elif not isinstance(version, str) or not version.strip() or not version.isprintable():
        raise ModelError(f"{where}: __version__ must be a non-empty printable string")

    try:
        parameters = list(inspect.signature(predict).parameters.values())
    except (TypeError, ValueError):
        parameters = []  # a builtin or C function: no signature to read; called with one value
    required = [
        p
        for p in parameters
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if parameters and (len(required) > 1 or not _takes_one_positional(parameters)):
        raise ModelError(f"{where}: predict must take exactly one argument, msg")

    try:
        hints = typing.get_type_hints(predict, include_extras=True)
    except Exception as e:
        raise ModelError(f"{where}: predict's annotations cannot be resolved: {e}") from None
    first = parameters[0].name if parameters else None
    input_type = hints.get(first, Any) if first else Any
    output_type = hints.get("return", Any)
    max_batch_size, max_wait_ms = getattr(predict, "__batch__", (0, 0.0))
    if max_batch_size:
        if inspect.iscoroutinefunction(predict):
            raise ModelError(
                f"{where}: @batch takes a plain def predict(msgs); an async def predict runs "
                "on the event loop, one request at a time, and cannot be batched"
            )
        input_type = _element(where, "msgs", input_type)
        output_type = _element(where, "return", output_type)

    input_adapter = None if _is_any(input_type) else _adapter(where, "msg", input_type)
    output_adapter = None if _is_any(output_type) else _adapter(where, "return", output_type)
    input_schema, output_schema, definitions = _schemas(input_adapter, output_adapter)
    examples = input_schema.get("examples")
    ref = input_schema.get("$ref", "")
    if examples is None and ref.startswith(REF_PREFIX):  # a BaseModel's own examples
        examples = definitions.get(ref[len(REF_PREFIX) :], {}).get("examples")
    example = examples[0] if isinstance(examples, list) and examples else NO_EXAMPLE
    return ModelSpec(
        name=where,
        predict=predict,
        load=load,
        version=version.strip(),
        # Any JSON value needs no check at run time: msg comes from a JSON parser or a query
        # string, and the answer goes through one that refuses what is not JSON.
        input=None if _is_json_value(input_type) else input_adapter,
        output=None if _is_json_value(output_type) else output_adapter,
        is_async=inspect.iscoroutinefunction(predict),
        load_takes_path=load_takes_path,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        query_is_text=input_adapter is None or _accepts_text(input_adapter),
        input_schema=input_schema,
        output_schema=output_schema,
        definitions=definitions,
        example=example,
    )


def describe_errors(error: pydantic.ValidationError, root: str = "msg") -> str:
    """pydantic's errors as one line: ``msg.petal_width: Input should be a valid number``."""
    parts = []
    for err in error.errors(include_url=False):
        loc = ".".join(str(part) for part in (root, *err["loc"]))
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _element(where: str, what: str, annotation: Any) -> Any:
    """The element type of a batch's ``list[X]`` annotation (``Any`` when there is none)."""
    if _is_any(annotation):
        return Any
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, collections.abc.Sequence) and len(args) == 1:
        return args[0]
    if origin is None and annotation in (list, collections.abc.Sequence):
        return Any
    raise ModelError(
        f"{where}: a @batch predict takes and returns lists: annotate its {what} as list[...] "
        f"(the type of one item), not {annotation!r}"
    )


def _takes_one_positional(parameters: list[inspect.Parameter]) -> bool:
    first = parameters[0]
    if first.kind in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD, first.VAR_POSITIONAL):
        return all(p.default is not p.empty or p.kind is p.VAR_KEYWORD for p in parameters[1:])
    return False


def _accepts_text(adapter: TypeAdapter[Any]) -> bool:
    """Whether the schema takes a string as it is (``str``, ``str | int``, any JSON value)."""
    try:
        return adapter.validate_python("text", strict=True) == "text"
    except Exception:
        return False


def _is_json_value(annotation: Any) -> bool:
    """``JsonValue`` (or ``Any``), bare or in ``Annotated`` with documentation only."""
    if typing.get_origin(annotation) is typing.Annotated:
        core, *extras = typing.get_args(annotation)
        documented = all(
            isinstance(x, FieldInfo) and not x.metadata and x.default is PydanticUndefined
            for x in extras
        )
        return documented and _is_json_value(core)
    return _is_any(annotation) or annotation is JsonValue


def _is_any(annotation: Any) -> bool:
    return annotation is Any or annotation is inspect.Parameter.empty or annotation is object


def _adapter(where: str, what: str, annotation: Any) -> TypeAdapter[Any]:
    try:
        adapter: TypeAdapter[Any] = TypeAdapter(annotation)
        adapter.json_schema(ref_template=REF_TEMPLATE)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError) as e:
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelError(
            f"{where}: predict's {what} annotation {annotation!r} is not a type pydantic can "
            f"validate: {first_line}"
        ) from None
    return adapter


def _schemas(
    input_adapter: TypeAdapter[Any] | None, output_adapter: TypeAdapter[Any] | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The input and output JSON Schemas and the named parts they share (generated together,
    so a type used both ways gets distinct ``-Input`` and ``-Output`` names where they differ)."""
    inputs = [
        (key, mode, adapter)
        for key, mode, adapter in (
            ("input", "validation", input_adapter),
            ("output", "serialization", output_adapter),
        )
        if adapter is not None
    ]
    if not inputs:
        return {}, {}, {}
    key_map, top = TypeAdapter.json_schemas(inputs, ref_template=REF_TEMPLATE)  # type: ignore
    by_key = {key: schema for (key, _mode), schema in key_map.items()}
    return by_key.get("input", {}), by_key.get("output", {}), top.get("$defs", {})


def _source_digest(module: ModuleType) -> str:
    try:
        source = inspect.getsource(module).encode()
    except (OSError, TypeError):
        source = module.__name__.encode()
    return hashlib.sha256(source).hexdigest()
