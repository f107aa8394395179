"""Fixtures for every test: a hermetic environment and a clean Pulumi runtime per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import pulumi
import pytest

# Variables that would let a test reach a real cloud account, a real Pulumi backend or a user's
# own config: none of them may leak into a test.
_LEAKY_PREFIXES = ("AWS_", "GOOGLE_", "CLOUDSDK_", "GCLOUD_", "PULUMI_", "KUBECONFIG", "DOCKER_")


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """No cloud credentials, no Pulumi settings and a HOME with nothing in it."""
    for name in list(os.environ):
        if name.startswith(_LEAKY_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    yield


@pytest.fixture(scope="session", autouse=True)
def no_server_left_behind():
    """After the whole run, no process of a server a test started is still running."""
    yield
    from tests.app_process import leftover_servers

    left = leftover_servers()
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"test servers left running (now killed): {left}"


@pytest.fixture(autouse=True)
def pulumi_runtime():
    """A fresh event loop and a reset Pulumi runtime (config, mocks, root stack) for each test."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    pulumi.runtime.set_all_config({})
    pulumi.runtime.settings.reset_options()
    loop.close()
    asyncio.set_event_loop(None)
