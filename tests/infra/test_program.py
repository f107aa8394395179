"""The whole program, per shipped stack: one component, only its cloud's resources, a url."""

from __future__ import annotations

import pytest

from tests.harness import run_stack

STACKS = {
    "dev": ({}, "echo-service:aws:FargateService", ("aws:", "docker-build:")),
    "gcp": ({"gcp:project": "test-project"}, "echo-service:gcp:GkeService",
            ("gcp:", "kubernetes:", "docker-build:", "pulumi:providers:kubernetes")),
    "local": ({}, "echo-service:local:LocalService", ("docker:", "docker-build:")),
}  # fmt: skip


def ancestors(rendered, resource):
    chain = []
    parent = resource.parent
    while parent:
        owner = next((r for r in rendered.resources if r.urn == parent), None)
        if owner is None:
            break
        chain.append(owner.type)
        parent = owner.parent
    return chain


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_each_shipped_stack_renders_its_target_and_exports_url(stack):
    overrides, component_type, allowed_prefixes = STACKS[stack]
    rendered = run_stack(stack, overrides)

    assert rendered.outputs["url"].startswith(("http://", "https://"))
    components = [r for r in rendered.resources if r.type.startswith("echo-service:")]
    assert [c.type for c in components] == [component_type]

    for resource in rendered.resources:
        if resource is components[0]:
            continue
        # Everything sits under the component in `pulumi up`'s tree, providers included.
        assert component_type in ancestors(rendered, resource), (resource.type, resource.name)
        kind = resource.type.removeprefix("pulumi:providers:") + ":"
        assert resource.type.startswith(allowed_prefixes) or kind.startswith(allowed_prefixes), (
            f"{stack} registered {resource.type}"
        )


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_a_preview_renders_too(stack):
    """`pulumi preview` runs the program with unknown outputs; it must not fail on them."""
    overrides, component_type, _ = STACKS[stack]
    rendered = run_stack(stack, overrides, preview=True)
    assert component_type in rendered.types()
