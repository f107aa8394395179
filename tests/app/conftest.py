"""Fixtures for the app's tests: a real ``python -m app`` on a free loopback port (see
``tests/app_process.py``) and raw HTTP to it."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.app_process import Server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real ``python -m app`` for the whole session, stopped (and checked) at the end."""
    srv = Server(tmp_path_factory.mktemp("server")).wait_ready()
    yield srv
    started = time.monotonic()
    status = srv.stop()
    assert status == 0, srv.stderr
    assert time.monotonic() - started < 5, "an idle server took more than 5 s to stop"


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """Start more servers: ``start_server(env, command)``; all are killed afterwards."""
    started: list[Server] = []

    def start(env: Mapping[str, str] | None = None, command: Sequence[str] = ()) -> Server:
        srv = Server(tmp_path, env, command)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.kill()
