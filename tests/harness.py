"""Runs the Pulumi program under Pulumi's own mocks and records what it registers.

`run_stack("dev")` loads the shipped config the way the Pulumi CLI does (the defaults declared in
Pulumi.yaml, then Pulumi.dev.yaml, then the test's overrides), runs `__main__.py`, waits for every
resource and returns a `Rendered`: each registered resource (type, name, inputs, outputs, parent,
dependencies, options), each invoke, and the resolved stack exports.

Fake outputs per resource type (ARNs, registry URLs, load balancer addresses) come from
`tests/infra/fakes.py`, so the program's own `apply` code runs as it would in the cloud.
"""

from __future__ import annotations

import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

# One loader of Pulumi.yaml defaults + the stack file, shared with `python -m infra.estimate`.
from infra.stackfiles import stack_config

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "echo-service"


@dataclass
class Res:
    """One registered resource as the engine saw it."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    provider: str = ""
    protect: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    retain_on_delete: bool = False
    custom_timeouts: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One invoke (data source / function call) the program made."""

    token: str
    args: dict[str, Any]
    provider: str = ""
    # How many resources had been registered when the call was made (orders calls and resources).
    registered_before: int = 0


@dataclass
class Rendered:
    """Everything one program run registered, and its exports."""

    resources: list[Res]
    calls: list[Call]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)

    def of_type(self, type_: str) -> list[Res]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Res:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Res:
        return next(r for r in self.resources if r.urn == urn)

    def types(self) -> set[str]:
        return {r.type for r in self.resources}


class Recorder(pulumi_mocks.Mocks):
    """Mocks that answer with fake outputs from a table and remember every call."""

    def __init__(self, fake_outputs: Mapping[str, Any], fake_calls: Mapping[str, Any]) -> None:
        self.fake_outputs = fake_outputs
        self.fake_calls = fake_calls
        self.resources: list[Res] = []
        self.calls: list[Call] = []

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        fake = self.fake_outputs.get(args.typ)
        extra = fake(args.name, args.inputs) if fake else {}
        state = {**args.inputs, **extra}
        resource_id = extra.pop("id", None) or args.resource_id or f"{args.name}-id"
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list]:
        self.calls.append(
            Call(args.token, dict(args.args), args.provider or "", len(self.resources))
        )
        fake = self.fake_calls.get(args.token)
        if fake is None:
            raise AssertionError(
                f"the program invoked {args.token}, which tests/infra/fakes.py lacks"
            )
        # A fake answers with outputs, or with (outputs, failures) for a data source that
        # finds nothing (the program sees the invoke fail, as the provider would make it).
        result = fake(args.args)
        return result if isinstance(result, tuple) else (result, [])


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping each registration's parent, dependencies and options."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(recorder)
        self.recorder = recorder

    def RegisterResource(self, request):  # noqa: N802 (the gRPC method's name)
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        registration = self.resources[response.urn]
        timeouts = request.customTimeouts
        self.recorder.resources.append(
            Res(
                type=request.type,
                name=request.name,
                urn=response.urn,
                inputs=pulumi.runtime.rpc.deserialize_properties(request.object),
                outputs=registration.state,
                parent=request.parent,
                dependencies=list(request.dependencies),
                provider=request.provider,
                protect=request.protect,
                ignore_changes=list(request.ignoreChanges),
                replace_on_changes=list(request.replaceOnChanges),
                delete_before_replace=request.deleteBeforeReplace,
                retain_on_delete=request.retainOnDelete,
                custom_timeouts={
                    k: getattr(timeouts, k)
                    for k in ("create", "update", "delete")
                    if getattr(timeouts, k)
                },
            )
        )
        return response


def run_stack(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    preview: bool = False,
    stack_name: str | None = None,
) -> Rendered:
    """Runs `__main__.py` for a shipped stack under mocks and returns what it registered.

    `stack_name` runs it as a stack of another name with that stack file's config (Pulumi
    allows letters, digits, `-`, `_` and `.` in stack names). Raises whatever the program
    raises (a `pulumi.RunError` for bad settings).
    """
    from tests.infra.fakes import FAKE_CALLS, FAKE_OUTPUTS

    recorder = Recorder(FAKE_OUTPUTS, FAKE_CALLS)
    pulumi.runtime.set_all_config(stack_config(stack, overrides))
    pulumi.runtime.set_mocks(
        recorder,
        project=PROJECT,
        stack=stack_name or stack,
        preview=preview,
        monitor=RecordingMonitor(recorder),
    )
    exported: dict[str, Any] = {}
    secrets: set[str] = set()

    def program() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        stack_resource = pulumi.runtime.settings.get_root_resource()
        for key, value in stack_resource.outputs.items():
            output = pulumi.Output.from_input(value)
            exported[key] = _sync_await(output.future())
            if _sync_await(output.is_secret()):
                secrets.add(key)

    _sync_await(run_pulumi_func(program))
    return Rendered(recorder.resources, recorder.calls, exported, secrets)


def plain(value: Any) -> Any:
    """Numbers travel to the engine as floats; the providers send whole ones as integers, and
    a manifest's integers are integers: compare rendered inputs with that done."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
