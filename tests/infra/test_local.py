"""The local stack under mocks, with the shipped Pulumi.local.yaml: what `make up` would create."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import threading

import pytest

from infra.local import TMPFS, WAIT_TIMEOUT_SECONDS, docker_name
from infra.settings import host_platform
from tests.harness import ROOT, Rendered, Res, run_stack
from tests.infra.fakes import LOCAL_IMAGE_ID

COMPONENT = "echo-service:local:LocalService"
IMAGE = "docker:index/image:Image"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
CONTAINER = "docker:index/container:Container"


@pytest.fixture
def shipped() -> Rendered:
    """The shipped local stack as `pulumi up` would render it."""
    return run_stack("local")


def _container(rendered: Rendered) -> Res:
    return rendered.one(CONTAINER)


def test_registers_only_the_component_and_local_docker_resources(shipped):
    assert shipped.types() == {COMPONENT, IMAGE, REMOTE_IMAGE, CONTAINER}
    clouds = [
        r.type
        for r in shipped.resources
        if r.type.split(":")[0] in ("aws", "gcp", "kubernetes", "docker-build")
    ]
    assert clouds == []
    assert shipped.calls == []


def test_every_child_is_parented_to_the_component(shipped):
    component = shipped.one(COMPONENT)
    for res in shipped.resources:
        if res is not component:
            assert res.parent == component.urn, res.name


def test_image_is_built_from_app_for_the_host_platform_and_not_pushed(shipped):
    image = shipped.one(IMAGE)
    assert image.inputs["build"] == {
        "context": "app",
        "dockerfile": "app/Dockerfile",
        "platform": host_platform(),
    }
    assert image.inputs["skipPush"] is True
    assert "registry" not in image.inputs
    assert image.inputs["imageName"] == "echo-service-local:latest"


@pytest.mark.parametrize(
    ("machine", "platform"),
    [
        ("arm64", "linux/arm64"),
        ("aarch64", "linux/arm64"),
        ("x86_64", "linux/amd64"),
        ("AMD64", "linux/amd64"),
    ],
)
def test_image_platform_follows_the_machine_not_the_platform_key(monkeypatch, machine, platform):
    monkeypatch.setattr("platform.machine", lambda: machine)
    # `platform` is for the clouds: an ARM laptop must not build (and emulate) amd64 locally.
    rendered = run_stack(
        "local", {"platform": "linux/amd64" if platform.endswith("arm64") else "linux/arm64"}
    )
    assert rendered.one(IMAGE).inputs["build"]["platform"] == platform


def test_container_runs_the_built_image_by_id_so_every_build_replaces_it(shipped):
    remote = shipped.one(REMOTE_IMAGE)
    assert remote.inputs["name"] == LOCAL_IMAGE_ID
    assert remote.inputs["triggers"] == {"imageId": LOCAL_IMAGE_ID}
    container = _container(shipped)
    assert container.inputs["image"] == LOCAL_IMAGE_ID
    assert remote.urn in container.dependencies
    # A fixed host port and name: the old container must be gone before the new one starts.
    assert container.delete_before_replace is True


def test_destroy_removes_the_image_too(shipped):
    assert shipped.one(REMOTE_IMAGE).inputs["keepLocally"] is False


def test_container_is_published_on_localhost_only(shipped):
    assert _container(shipped).inputs["ports"] == [
        {"internal": 8080, "external": 8080, "ip": "127.0.0.1"}
    ]
    assert _container(shipped).inputs["envs"] == ["PORT=8080"]


def test_container_restarts_and_is_kept_running(shipped):
    inputs = _container(shipped).inputs
    assert inputs["restart"] == "unless-stopped"
    assert inputs["mustRun"] is True


def test_container_is_hardened(shipped):
    inputs = _container(shipped).inputs
    assert inputs["readOnly"] is True
    assert inputs["tmpfs"] == {"/tmp": "rw,noexec,nosuid,size=64m"} == TMPFS
    assert inputs["capabilities"] == {"drops": ["ALL"]}
    assert inputs["securityOpts"] == ["no-new-privileges:true"]
    assert "privileged" not in inputs


def test_container_gets_one_cloud_replicas_memory_and_cpu(shipped):
    inputs = _container(shipped).inputs
    assert inputs["memory"] == 512
    assert inputs["cpus"] == "0.25"


@pytest.mark.parametrize(
    ("cpu", "memory", "cpus"),
    [(512, 1024, "0.5"), (1024, 2048, "1"), (1536, 3072, "1.5"), (4096, 8192, "4")],
)
def test_cpu_and_memory_follow_the_settings(cpu, memory, cpus):
    inputs = _container(run_stack("local", {"cpu": cpu, "memory": memory})).inputs
    assert (inputs["memory"], inputs["cpus"]) == (memory, cpus)


def test_up_waits_for_a_healthy_container(shipped):
    inputs = _container(shipped).inputs
    assert inputs["wait"] is True
    assert inputs["waitTimeout"] == WAIT_TIMEOUT_SECONDS
    check = inputs["healthcheck"]
    # The image's own probe, which asks /readyz on $PORT (set on the container).
    assert check["tests"] == ["CMD", "python", "-m", "app.healthcheck"]
    assert check["retries"] == 3
    # Whole seconds under a minute: Docker reports durations back in Go's format ("1m30s"), so
    # any other spelling would show a change after `pulumi refresh`.
    for key in ("interval", "timeout", "startPeriod", "startInterval"):
        assert re.fullmatch(r"[1-5]?[0-9]s", check[key]), (key, check[key])
    assert int(check["timeout"][:-1]) < int(check["interval"][:-1])


def test_container_labels_are_the_stack_labels(shipped):
    labels = {item["label"]: item["value"] for item in _container(shipped).inputs["labels"]}
    assert labels == {"project": "echo-service", "stack": "local", "managed-by": "pulumi"}


def test_names_derive_from_project_and_stack(shipped):
    assert _container(shipped).inputs["name"] == "echo-service-local"
    assert shipped.one(IMAGE).inputs["imageName"].startswith("echo-service-local:")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("echo-service-local", "echo-service-local"),
        ("echo-service-Dev_Box", "echo-service-dev-box"),
        ("echo-service-a..b", "echo-service-a-b"),
        ("echo-service-x.", "echo-service-x"),
    ],
)
def test_docker_name_is_a_valid_repository_name(name, expected):
    assert docker_name(name) == expected
    assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", docker_name(name))


def test_exports(shipped):
    assert shipped.outputs == {
        "url": "http://localhost:8080",
        "image": "echo-service-local:latest",
        "imageId": LOCAL_IMAGE_ID,
        "container": "echo-service-local",
    }
    assert shipped.secret_outputs == set()


def test_local_port_and_container_port_overrides():
    rendered = run_stack("local", {"localPort": 9090, "containerPort": 5000})
    inputs = _container(rendered).inputs
    assert inputs["ports"] == [{"internal": 5000, "external": 9090, "ip": "127.0.0.1"}]
    assert inputs["envs"] == ["PORT=5000"]
    assert rendered.outputs["url"] == "http://localhost:9090"


def test_preview_renders_the_same_resources():
    rendered = run_stack("local", preview=True)
    assert rendered.types() == {COMPONENT, IMAGE, REMOTE_IMAGE, CONTAINER}


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (500, False), (None, False)])
def test_health_check_command_really_probes_readiness_on_the_container_port(status, healthy):
    """Runs the rendered health check with the container's env (as Docker would) on a server."""
    handler = type("Handler", (_Health,), {"status": status or 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    if status is None:
        server.server_close()  # nothing listens: connection refused
    else:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        inputs = _container(run_stack("local", {"containerPort": port})).inputs
        command = inputs["healthcheck"]["tests"]
        assert command[:2] == ["CMD", "python"]
        # The container's own variables; no proxy settings (the container has none).
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and k != "HOST"}
        env.update(item.split("=", 1) for item in inputs["envs"])
        result = subprocess.run(
            [sys.executable, *command[2:]], cwd=ROOT, capture_output=True, timeout=10, env=env
        )
        assert (result.returncode == 0) is healthy, result.stderr
    finally:
        if status is not None:
            server.shutdown()
            server.server_close()
