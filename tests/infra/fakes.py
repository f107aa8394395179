"""Fake outputs per resource type and fake invoke results, as the clouds would answer.

Keys are Pulumi type tokens; each function gets the resource's name and inputs (camelCase, as
sent to the engine) and returns the outputs the provider would add (camelCase too). Types not
listed echo their inputs. Invokes the program makes must be listed in FAKE_CALLS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Outputs = Callable[[str, dict[str, Any]], dict[str, Any]]
CallResult = Callable[[dict[str, Any]], dict[str, Any]]

ACCOUNT = "123456789012"
AWS_REGION = "us-east-1"
GCP_PROJECT = "test-project"
FAKE_DIGEST = "sha256:" + "ab" * 32


def _docker_build_image(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    tags = inputs.get("tags") or []
    pushed = bool(inputs.get("push"))
    ref = f"{tags[0].rsplit(':', 1)[0]}@{FAKE_DIGEST}" if tags and pushed else (tags or [""])[0]
    return {"digest": FAKE_DIGEST if pushed or inputs.get("load") else "", "ref": ref,
            "contextHash": "c0ffee" * 10 + "beef"}  # fmt: skip


COMMON_OUTPUTS: dict[str, Outputs] = {
    "docker-build:index:Image": _docker_build_image,
}

# --- aws target -------------------------------------------------------------------------------
AWS_OUTPUTS: dict[str, Outputs] = {}
AWS_CALLS: dict[str, CallResult] = {}

# --- gcp target -------------------------------------------------------------------------------
GCP_OUTPUTS: dict[str, Outputs] = {}
GCP_CALLS: dict[str, CallResult] = {}

# --- local target -----------------------------------------------------------------------------
# The ID the local engine gives the built image (`docker image inspect --format {{.Id}}`).
LOCAL_IMAGE_ID = "sha256:" + "5e" * 32
LOCAL_CONTAINER_ID = "c0" * 32


def _docker_image(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # The provider's ID is the image name; a local-only build reports its ID as repoDigest.
    build = inputs.get("build") or {}
    return {
        "id": inputs["imageName"],
        "baseImageName": inputs["imageName"],
        "registryServer": "",
        "repoDigest": LOCAL_IMAGE_ID if inputs.get("skipPush") else "",
        "context": build.get("context", "."),
        "dockerfile": "Dockerfile",
        "platform": build.get("platform"),
    }


def _docker_remote_image(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # The provider's ID is the image ID followed by the name it was looked up by.
    return {"id": f"{LOCAL_IMAGE_ID}{inputs['name']}", "imageId": LOCAL_IMAGE_ID, "repoDigest": ""}


def _docker_container(name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": LOCAL_CONTAINER_ID,
        "exitCode": None,
        "networkDatas": [{"ipAddress": "172.17.0.2"}],
    }


LOCAL_OUTPUTS: dict[str, Outputs] = {
    "docker:index/image:Image": _docker_image,
    "docker:index/remoteImage:RemoteImage": _docker_remote_image,
    "docker:index/container:Container": _docker_container,
}
LOCAL_CALLS: dict[str, CallResult] = {}

FAKE_OUTPUTS: dict[str, Outputs] = {**COMMON_OUTPUTS, **AWS_OUTPUTS, **GCP_OUTPUTS, **LOCAL_OUTPUTS}
FAKE_CALLS: dict[str, CallResult] = {**AWS_CALLS, **GCP_CALLS, **LOCAL_CALLS}
