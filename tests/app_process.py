"""A real ``python -m app`` on a free loopback port, and raw HTTP to it.

Shared by the app's tests and the smoke check's tests. The server is talked to with sockets and
``http.client`` rather than an in-process client, so tests can send what real clients and
attackers send: a Content-Length that is not a number, bytes that are not UTF-8, a body bigger
than the limit.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
"""The repository root: ``python -m app`` runs from here."""

START_TIMEOUT = 10.0

RUN_MARKER = "ECHO_SERVICE_TEST_RUN"
"""Set in every server a test starts, to the test run's pid: what ``leftover_servers`` looks for."""


def leftover_servers(run: int | None = None) -> list[int]:
    """Pids of processes still running that a server of this test run started (Linux: /proc)."""
    marker = f"{RUN_MARKER}={run or os.getpid()}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                status = (proc / "status").read_text()
                if "\nState:\tZ" not in status:
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


ECHO_MODEL = "tests.app.models.echo"
"""The model the project's own tests serve: an echo of their own, so a user's ``app/model.py``
never changes what they see."""


def free_port() -> int:
    """A TCP port that nothing on 127.0.0.1 listens on at the moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    """An HTTP answer: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Server:
    """A ``python -m app`` (or other ``command``) subprocess serving on ``127.0.0.1:port``.

    Its stdout (the access log) and stderr go to files, never to pipes that could fill up and
    stall it. It runs in a session (process group) of its own, so ``stop`` and ``kill`` end its
    workers with it: granian's workers outlive a main process killed alone.
    """

    def __init__(
        self,
        tmp: Path,
        env: Mapping[str, str] | None = None,
        command: Sequence[str] = (),
        cwd: Path = REPO,
    ) -> None:
        self.port = free_port()
        self.stdout_path = tmp / f"server-{self.port}.out"
        self.stderr_path = tmp / f"server-{self.port}.err"
        full_env = {k: v for k, v in os.environ.items() if k not in _SERVER_VARS}
        full_env.update(
            HOST="127.0.0.1", PORT=str(self.port), WEB_CONCURRENCY="2", MODEL_MODULE=ECHO_MODEL
        )
        full_env[RUN_MARKER] = str(os.getpid())  # tests/conftest.py finds leftovers by it
        full_env.update(env or {})
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                command or [sys.executable, "-m", "app"],
                cwd=cwd,
                env=full_env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = START_TIMEOUT, path: str = "/readyz") -> Server:
        """Poll ``path`` until it answers 200; fail with the server's log if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.stderr}")
            try:
                if self.request("GET", path, timeout=1).status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"server did not answer {path} within {timeout} s:\n{self.stderr}")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5,
    ) -> Reply:
        """One request on a new connection, with ``http.client``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            conn.close()

    def raw(self, data: bytes, timeout: float = 5) -> Reply:
        """Send ``data`` as it is on a new connection and parse the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(data)
            return read_reply(s)

    def post_json(self, value: Any, path: str = "/predict") -> Reply:
        return self.request(
            "POST",
            path,
            json.dumps(value).encode(),
            {"Content-Type": "application/json"},
        )

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait; returns the exit status. Whatever is left of the process group
        (a worker the main process did not take down) is killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            self.kill_group()

    def kill(self) -> None:
        """SIGKILL the whole process group, reap the main process, and give the workers (which
        the main process no longer reaps) a few seconds to be gone: a busy machine may take a
        moment to end a worker that held a big body."""
        self.kill_group()
        self.process.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _group_alive(self.process.pid):
            time.sleep(0.05)

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        # SIGKILL is delivered, not yet acted on: wait (briefly) until the group's processes
        # are gone, so a check for leftovers right after sees none that are merely dying.
        deadline = time.monotonic() + 3
        while _group_members(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.02)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid`` (Linux: /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(pgid):
            found.append(int(stat.parent.name))
    return found


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running, zombies aside (Linux: /proc)."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def read_reply(sock: socket.socket) -> Reply:
    """Read one HTTP/1.1 answer (framed by Content-Length, or by the connection closing)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Reply(int(status_line.split()[1]), headers, body)


# Variables of the server's own that the developer's shell must not leak into a test server.
_SERVER_VARS = {
    "HOST",
    "PORT",
    "WEB_CONCURRENCY",
    "TIMEOUT",
    "MAX_QUEUE",
    "BODY_TIMEOUT",
    "KEEPALIVE_TIMEOUT",
    "GRACEFUL_TIMEOUT",
    "MAX_CONTENT_LENGTH",
    "MODEL_MODULE",
    "MODEL_PATH",
    "MODEL_SHA256",
    "API_KEYS",
    "METRICS_PORT",
    "LOG_FORMAT",
    "LOG_LEVEL",
    "PROMETHEUS_MULTIPROC_DIR",
    "CLOUDWATCH_EMF_NAMESPACE",
    "CLOUDWATCH_EMF_SERVICE",
    "MAX_BATCH_SIZE",
    "MAX_BATCH_WAIT_MS",
    # the math libraries' threads, which the server sets unless they are set
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "RAYON_NUM_THREADS",
    "TOKENIZERS_PARALLELISM",
}


SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
"""schemathesis's command, installed beside the running Python (requirements-dev.txt)."""


def fuzz(base_url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """Run schemathesis against ``base_url``'s ``/openapi.json`` with every check, seeded.

    It writes its reports and its example database under ``workdir``, never in the project.
    """
    return subprocess.run(
        [
            SCHEMATHESIS or "schemathesis",
            "run",
            f"{base_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--no-color",
            "--report-dir",
            str(workdir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=workdir,
        env={**os.environ, "HOME": str(workdir)},
    )


def assert_json_error(reply, status, *words):
    """The runtime's error answer: ``status``, a JSON body ``{"success": false, "error": ...}``
    whose error names each of ``words``. Returns the error text."""
    assert reply.status == status, (reply.status, reply.body)
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert set(body) == {"success", "error"} and body["success"] is False
    for word in words:
        assert word in body["error"], body["error"]
    return body["error"]
