"""Benchmark: ``python -m app`` against its peers, side by side, on the echo and on a 2 ms model.

Not a test: it measures, it does not assert. Run it from the repository root with the app's
Python (the one ``python -m app`` runs with):

    .venv/bin/python bench/bench.py                    # all: ~15 min (21 on a busy machine)
    .venv/bin/python bench/bench.py --rounds 1 --duration 3 --servers flask-dev,app
    .venv/bin/python bench/bench.py --models echo --skip-startup

Servers (``--servers``, all by default), each writing an access-log line per request and
answering the echo contract ``GET /predict?msg=...`` -> ``{"response": ..., "success": true}``:

* ``flask-dev``: the seed's server, the original article's tiny Flask app on Flask's development
  server (``app.run(threaded=True)``, Werkzeug's request log): ``bench/peers/flask_echo.py``;
* ``app``: ``python -m app`` exactly as the image runs it (granian RSGI, its default worker
  count for this machine, its access log);
* ``fastapi``: FastAPI on uvicorn, 2 workers, uvloop, httptools, uvicorn's access log;
* ``bentoml``: ``bentoml serve``, 2 workers, BentoML's access log;
* references, not peers: ``starlette-granian`` (Starlette on granian's ASGI interface, 2
  workers) and ``raw-rsgi`` (a bare granian RSGI handler, 2 workers): what the same server
  serves with next to nothing in Python.

Models (``--models``): ``echo``, then ``cpu2ms``: ``bench/models/cpu2ms.py``, a pure-Python loop
of about 2 ms, calibrated once here and given to every server (``CPU2MS_ITERATIONS``). The app
serves it with ``MODEL_MODULE=bench.models.cpu2ms``; each peer calls the same ``predict`` the
way its framework runs blocking code (each peer's docstring says how).

For each model every server is started, checked against the contract, its idle memory read
(RSS and PSS of all its processes, from /proc), then driven by wrk (``--threads``,
``--connections``, a ``--warmup`` run not counted, then ``--duration`` seconds) in ``--rounds``
interleaved rounds, each round in a rotated order, so a neighbour's burst of CPU hits every server
alike. Before that, ``--starts`` cold starts of each server time the start to its first 200
(``/readyz`` for the app, ``/predict`` for the others). It prints a Markdown report (machine,
date, exact commands, medians, per-round figures, the CPU other processes took meanwhile) and
saves it with the raw figures under ``bench/results/``.

Then ``minilm``: a real model, all-MiniLM-L6-v2, served by ``python -m app`` with ``@batch`` and by
BentoML, LitServe and Ray Serve with their batching, each from its own venv, against the model
called directly: ``bench/minilm.py`` (its docstring says how), ``--minilm-rounds`` rounds at each
of ``--clients``, its section appended to the same report.

The peers run from their own venv, ``bench/.venv-peers``, created on the first run from the
pinned ``bench/peers/requirements*.txt`` (BentoML separately: if it cannot be installed or does not
start, the report says so and the run goes on without it). None of them is ever in the app's
requirements.

wrk shares the CPUs with the servers: on a 2-CPU machine it takes a good part of one, so every
figure is lower than the server would reach alone. The report gives each server's own CPU time
per 2xx answer too, which depends much less on that, and the CPU that other processes took while
each run lasted (from /proc/stat): a run next to a busy neighbour says so.

To see where a server spends its time, profile one worker under load with py-spy (installed in
the peers' venv)::

    HOST=127.0.0.1 PORT=8080 .venv/bin/python -m app &
    wrk -t2 -c64 -d20s 'http://127.0.0.1:8080/predict?msg=Hi' &
    bench/.venv-peers/bin/py-spy record --pid WORKER_PID --duration 10 --threads -o app.svg
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import http.client
import importlib.util
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
RESULTS = BENCH / "results"
PEERS_VENV = BENCH / ".venv-peers"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
PEER_REQUIREMENTS = BENCH / "peers" / "requirements.txt"
BENTOML_REQUIREMENTS = BENCH / "peers" / "requirements-bentoml.txt"

MSG = "Hi_from_docker"
PATH = f"/predict?msg={MSG}"
EXPECTED = {"response": MSG, "success": True}
WORKERS = 2  # every multi-process server gets 2 workers: one per CPU of this machine
CLK_TCK = os.sysconf("SC_CLK_TCK")

# wrk's Lua hook: print the figures as one JSON line, instead of parsing wrk's prose.
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""

MODELS = {"echo": None, "cpu2ms": "bench.models.cpu2ms"}
ALL_MODELS = (*MODELS, "minilm")  # minilm: measured by bench/minilm.py, its own servers
SERVERS = ("flask-dev", "app", "fastapi", "bentoml", "starlette-granian", "raw-rsgi")

HOW_THEY_RUN = [
    "- flask-dev: in the request's own thread (the development server starts one per "
    "connection), echo and cpu2ms alike.",
    "- app: in the worker's one model thread, after the request is read on the event loop; at "
    "most `MAX_QUEUE` (16) requests wait for it in each worker, the next get 503 at once.",
    "- fastapi: the echo is an `async def` endpoint, on the event loop; cpu2ms is a plain `def` "
    "endpoint, which FastAPI runs in AnyIO's thread pool (40 threads per worker).",
    "- bentoml: the same as fastapi (a FastAPI route mounted with `@bentoml.asgi_app`, since "
    "`@bentoml.api` endpoints answer POST only), inside `bentoml serve`'s workers.",
    "- starlette-granian: the echo on the event loop; cpu2ms through Starlette's "
    "`run_in_threadpool` (AnyIO's thread pool, 40 threads per worker).",
    "- raw-rsgi: the echo on the event loop; cpu2ms in one thread per worker "
    "(`loop.run_in_executor` on a one-thread pool), as the app runs its model.",
]


@dataclass
class Server:
    """A server under test, for one model."""

    name: str
    description: str
    command: list[str]
    env: dict[str, str]
    ready_path: str
    port: int = 0
    process: subprocess.Popen | None = None
    log: Path | None = None
    rounds: list[dict] = field(default_factory=list)
    memory: dict = field(default_factory=dict)
    memory_after: dict = field(default_factory=dict)
    problem: str = ""
    log_lines: int = 0  # written while wrk ran (the lines before the first run not counted)
    requests_sent: int = 0


# --- the servers ------------------------------------------------------------------------------


def server_specs(
    app_python: str, app_workers: int, app_env: dict[str, str]
) -> dict[str, tuple[str, list[str], dict, str]]:
    """Name -> (description, command with {port}, extra environment, readiness path)."""
    peer = str(PEERS_PYTHON)
    workers = str(WORKERS)
    granian = [peer, "-m", "granian", "--host", "127.0.0.1", "--port", "{port}", "--http", "1"]
    granian += ["--workers", workers, "--access-log"]
    return {
        "flask-dev": (
            "the seed's Flask development server, app.run(threaded=True)",
            [peer, "bench/peers/flask_echo.py", "{port}"],
            {},
            PATH,
        ),
        "app": (
            f"python -m app (granian RSGI, {app_workers} workers)",
            [app_python, "-m", "app"],
            {
                "HOST": "127.0.0.1",
                "PORT": "{port}",
                "WEB_CONCURRENCY": str(app_workers),
                **app_env,
            },
            "/readyz",
        ),
        "fastapi": (
            f"FastAPI on uvicorn, {workers} workers, uvloop, httptools",
            [
                *(peer, "-m", "uvicorn", "bench.peers.fastapi_echo:app"),
                *("--host", "127.0.0.1", "--port", "{port}", "--workers", workers),
                *("--loop", "uvloop", "--http", "httptools", "--access-log"),
            ],
            {},
            PATH,
        ),
        "bentoml": (
            f"bentoml serve, {workers} workers",
            [
                *(str(PEERS_VENV / "bin" / "bentoml"), "serve", "bench.peers.bento_echo:Echo"),
                *("--host", "127.0.0.1", "--port", "{port}"),
            ],
            {"WEB_CONCURRENCY": workers, "BENTOML_DO_NOT_TRACK": "true"},
            PATH,
        ),
        "starlette-granian": (
            f"reference: Starlette on granian ASGI, {workers} workers",
            [*granian, "--interface", "asgi", "bench.peers.starlette_echo:app"],
            {},
            PATH,
        ),
        "raw-rsgi": (
            f"reference: a bare granian RSGI handler, {workers} workers",
            [*granian, "--interface", "rsgi", "bench.peers.raw_rsgi:app"],
            {},
            PATH,
        ),
    }


def make_server(name: str, specs: dict, model: str, iterations: int, tmp: Path) -> Server:
    description, command, extra, ready = specs[name]
    port = free_port()
    env = {k: v.replace("{port}", str(port)) for k, v in extra.items()}
    env["PYTHONPATH"] = str(REPO)  # the peers import bench.models.* and bench.peers.*
    env["BENTOML_HOME"] = str(tmp / "bentoml-home")
    if MODELS[model]:
        env["MODEL_MODULE"] = MODELS[model]
        env["CPU2MS_ITERATIONS"] = str(iterations)
    command = [part.replace("{port}", str(port)) for part in command]
    return Server(name, description, command, env, ready, port)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Settings of python -m app (app/server.py) and of the peers: a value left in the caller's shell
# (API_KEYS, LOG_FORMAT=json, MAX_QUEUE...) must not change what is measured.
SETTINGS = (
    *("HOST", "PORT", "WEB_CONCURRENCY", "TIMEOUT", "MAX_QUEUE", "BODY_TIMEOUT"),
    *("KEEPALIVE_TIMEOUT", "GRACEFUL_TIMEOUT", "MAX_CONTENT_LENGTH", "MODEL_MODULE"),
    *("MODEL_PATH", "MODEL_SHA256", "API_KEYS", "METRICS_PORT", "LOG_FORMAT", "LOG_LEVEL"),
    *("CPU2MS_ITERATIONS", "PYTHONPATH", "VIRTUAL_ENV"),
)


def environment(server: Server) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if k not in SETTINGS and not k.startswith(("GRANIAN_", "BENTOML_", "UVICORN_"))
    }
    return {**inherited, **server.env}


def start(server: Server, log: Path, timeout: float = 60) -> float:
    """Start ``server``, wait for its first 200 on its readiness path; the seconds it took."""
    server.log = log
    with log.open("ab") as out:  # every request is logged, to this file
        started = time.perf_counter()
        server.process = subprocess.Popen(
            server.command,
            cwd=REPO,
            env=environment(server),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if get(server.port, server.ready_path, timeout=1)[0] == 200:
            return time.perf_counter() - started
        if server.process.poll() is not None:
            raise RuntimeError(f"exited with status {server.process.returncode}: {_last_line(log)}")
        time.sleep(0.005)
    raise RuntimeError(f"no 200 from {server.ready_path} within {timeout:g} s: {_last_line(log)}")


def _last_line(log: Path) -> str:
    lines = log.read_text(errors="replace").strip().splitlines()
    return lines[-1][:300] if lines else "(nothing logged)"


def stop(server: Server) -> None:
    process = server.process
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # as an orchestrator stops it: the main process
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(20)
    with contextlib.suppress(ProcessLookupError):  # workers or helpers left behind
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def get(port: int, path: str, timeout: float = 5) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        connection.close()


def check_contract(server: Server) -> None:
    status, body = get(server.port, PATH)
    try:
        answer = json.loads(body)
    except ValueError:
        answer = body[:200]
    if status != 200 or answer != EXPECTED:
        raise RuntimeError(f"GET {PATH} answered {status} {answer!r}, not 200 {EXPECTED}")


# --- processes, memory and CPU from /proc -----------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                children = Path(f"/proc/{p}/task/{task}/children").read_text().split()
                todo.extend(int(c) for c in children)
        except OSError:
            continue
    return found


def memory(pid: int) -> dict:
    """RSS and PSS (MB) summed over the process tree of ``pid``, and how many processes."""
    rss = pss = 0
    count = 0
    for p in tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        if "\nState:\tZ" in status:
            continue
        count += 1
        rss += _kb(status, "VmRSS:")
        pss += _kb(rollup, "Pss:")
    return {"processes": count, "rss_mb": rss / 1024, "pss_mb": pss / 1024}


def _kb(text: str, key: str) -> int:
    for line in text.splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree of ``pid`` (exited workers not counted)."""
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs have spent busy since boot (/proc/stat, without idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


# --- wrk ----------------------------------------------------------------------------------------


def wrk_command(args: argparse.Namespace, script: Path, port: int, duration: float) -> list[str]:
    return [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{PATH}",
    ]


def wrk(args: argparse.Namespace, script: Path, server: Server, duration: float) -> dict:
    """One wrk run against ``server``, with the CPU each side and everything else used."""
    assert server.process is not None
    command = wrk_command(args, script, server.port, duration)
    before = (
        cpu_seconds(server.process.pid),
        machine_busy_seconds(),
        _children_cpu(),
        time.perf_counter(),
    )
    result = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=duration + 60
    )
    after = (
        cpu_seconds(server.process.pid),
        machine_busy_seconds(),
        _children_cpu(),
        time.perf_counter(),
    )
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()
        raise RuntimeError(f"wrk failed ({result.returncode}): {output[0] if output else ''}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    seconds = figures["duration_us"] / 1e6
    wall = after[3] - before[3]
    server_cpu = after[0] - before[0]
    wrk_cpu = after[2] - before[2]
    busy = after[1] - before[1]
    ok = figures["requests"] - figures["status"]
    errors = sum(figures[k] for k in ("connect", "read", "write", "status", "timeout"))
    socket_errors = errors - figures["status"]
    return {
        **figures,
        "rps": ok / seconds,  # answers that were 2xx, per second
        "errors": errors,
        "non_2xx": figures["status"],
        "socket_errors": socket_errors,
        "server_cpu_s": server_cpu,
        "wrk_cpu_s": wrk_cpu,
        "others_cpu_s": max(0.0, busy - server_cpu - wrk_cpu),
        "wall_s": wall,
        "server_cpu_us_per_request": server_cpu / max(1, figures["requests"]) * 1e6,
        "server_cpu_us_per_2xx": server_cpu / max(1, ok) * 1e6,
        "loadavg": os.getloadavg()[0],
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for children: wrk runs
    return usage.ru_utime + usage.ru_stime


def count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines


# --- the peers' venv ----------------------------------------------------------------------------


def ensure_peers_venv(log: Path) -> tuple[bool, str]:
    """Create or update ``bench/.venv-peers``; (whether BentoML is usable, why not)."""
    stamp = PEERS_VENV / ".installed"
    wanted = hashlib.sha256(
        PEER_REQUIREMENTS.read_bytes() + BENTOML_REQUIREMENTS.read_bytes()
    ).hexdigest()
    if stamp.exists() and stamp.read_text().split("\n")[0] == wanted:
        bentoml = stamp.read_text().split("\n", 1)[1]
        return bentoml == "", bentoml
    print(f"bench: installing the peers into {PEERS_VENV.relative_to(REPO)}", file=sys.stderr)
    with log.open("ab") as out:
        if not PEERS_PYTHON.exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        pip = [str(PEERS_PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        result = subprocess.run([*pip, "-r", str(PEER_REQUIREMENTS)], stdout=out, stderr=out)
        if result.returncode != 0:
            sys.exit(f"bench: could not install {PEER_REQUIREMENTS}; see {log}")
        result = subprocess.run([*pip, "-r", str(BENTOML_REQUIREMENTS)], stdout=out, stderr=out)
    bentoml = "" if result.returncode == 0 else f"pip could not install it (see {log.name})"
    stamp.write_text(f"{wanted}\n{bentoml}")
    return bentoml == "", bentoml


def peer_versions() -> dict[str, str]:
    probe = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        "for p in ('flask', 'fastapi', 'starlette', 'uvicorn', 'uvloop', 'httptools', 'granian',"
        " 'bentoml', 'numpy', 'pydantic'):\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: out[p] = 'not installed'\n"
        "print(json.dumps(out))"
    )
    result = subprocess.run(
        [str(PEERS_PYTHON), "-c", probe], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


# --- the machine --------------------------------------------------------------------------------


def machine(app_python: str) -> dict:
    # Asked of the app itself, as python -m app would decide them.
    probe = (
        "from app.server import available_cpus as a, default_workers as w\n"
        "import importlib.metadata as m\n"
        "print(a(), w(), m.version('granian'), m.version('pydantic'))"
    )
    cpus, workers, granian, pydantic = subprocess.run(
        [app_python, "-c", probe], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    wrk_version = subprocess.run(["wrk", "-v"], check=False, capture_output=True, text=True)
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpus_available": float(cpus),
        "default_workers": int(workers),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "app_granian": granian,
        "app_pydantic": pydantic,
        "app_commit": _git("rev-parse", "--short", "HEAD"),
        "app_dirty": bool(_git("status", "--porcelain", "--", "app")),
        "wrk": wrk_version.stdout.split("[")[0].strip(),
        "memory_total_mb": _kb(Path("/proc/meminfo").read_text(), "MemTotal:") // 1024,
        "loadavg_before": os.getloadavg(),
    }


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return result.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --- the run ------------------------------------------------------------------------------------


def measure_startup(
    names: list[str], specs: dict, starts: int, iterations: int, tmp: Path
) -> dict[str, dict]:
    """``starts`` cold starts of each server (echo): seconds to the first 200, median and all.

    Interleaved, one start of each server per round, so that a neighbour's burst of CPU (a
    start is mostly imports: CPU-bound) hits every server alike. The 1-minute load average at
    each start is kept with it.
    """
    found: dict[str, dict] = {name: {"seconds": [], "loadavg": [], "problem": ""} for name in names}
    for _ in range(starts):
        for name in names:
            if found[name]["problem"]:
                continue
            server = make_server(name, specs, "echo", iterations, tmp)
            try:
                found[name]["loadavg"].append(os.getloadavg()[0])
                found[name]["seconds"].append(start(server, tmp / f"start-{name}.log"))
            except RuntimeError as e:
                found[name]["problem"] = str(e)
            finally:
                stop(server)
    for name, st in found.items():
        timings = st["seconds"]
        median = f"{statistics.median(timings) * 1000:.0f} ms" if timings else st["problem"]
        print(f"startup   {name:18} {median}", file=sys.stderr)
    return found


def run_model(
    args: argparse.Namespace,
    model: str,
    names: list[str],
    specs: dict,
    iterations: int,
    tmp: Path,
    script: Path,
) -> list[Server]:
    servers = [make_server(name, specs, model, iterations, tmp) for name in names]
    try:
        for server in servers:
            try:
                start(server, tmp / f"{model}-{server.name}.log")
                check_contract(server)
            except RuntimeError as e:
                server.problem = str(e)
                print(f"{model:6} {server.name}: left out: {e}", file=sys.stderr)
                stop(server)
        running = [s for s in servers if not s.problem]
        time.sleep(args.settle)
        for server in running:
            assert server.process is not None and server.log is not None
            server.memory = memory(server.process.pid)
            server.log_lines = -count_lines(server.log)  # start-up lines, not requests
        for n in range(args.rounds):
            # Rotated each round, so no server always runs right after the same neighbour.
            order = running[n % len(running) :] + running[: n % len(running)]
            for server in order:
                if server.problem:
                    continue
                try:
                    if args.warmup:
                        server.requests_sent += wrk(args, script, server, args.warmup)["requests"]
                    figures = wrk(args, script, server, args.duration)
                except RuntimeError as e:
                    server.problem = str(e)
                    continue
                server.rounds.append(figures)
                server.requests_sent += figures["requests"]
                print(
                    f"{model:6} round {n + 1}/{args.rounds} {server.name:18} "
                    f"{figures['rps']:9,.0f} req/s  p99 {figures['p99_us'] / 1000:6.1f} ms  "
                    f"errors {figures['errors']}  "
                    f"cpu {figures['server_cpu_us_per_2xx']:5.0f} us/2xx  "
                    f"others {figures['others_cpu_s'] / figures['wall_s'] * 100:3.0f}% of a CPU",
                    file=sys.stderr,
                )
        for server in running:
            if server.process is not None and server.process.poll() is None:
                server.memory_after = memory(server.process.pid)
    finally:
        for server in servers:
            stop(server)
    for server in servers:
        if server.log is not None and server.log.exists():
            if server.rounds:
                server.log_lines += count_lines(server.log)
            server.log.unlink()  # large: one line per request
    return servers


# --- the report ---------------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    info: dict,
    versions: dict,
    results: dict[str, list[Server]],
    startup: dict[str, dict],
    script: Path,
    notes: list[str],
) -> str:
    load = info["loadavg_during"]
    lines = [
        "# echo-service benchmark: python -m app and its peers",
        "",
        f"- date: {info['date']}; app at commit {info['app_commit']}"
        + (" (app/ with uncommitted changes)" if info["app_dirty"] else ""),
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_total_mb']:,} MB, "
        f"kernel {info['kernel']}; wrk runs on the same {info['nproc']} CPUs as the servers",
        "- load average (1 min): "
        f"{info['loadavg_before'][0]:.2f} before the run, {min(load):.2f}-{max(load):.2f} during "
        f"it (wrk and the server under test make about 2 of that), "
        f"{info['loadavg_after'][0]:.2f} after; CPU that other processes took during the "
        f"measured runs: median {info['others_cpu_median']:.0f}%, "
        f"max {info['others_cpu_max']:.0f}% of one CPU",
        f"- app: Python {info['python']}, granian {info['app_granian']}, "
        f"pydantic {info['app_pydantic']}; peers' venv (bench/.venv-peers): "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f"; {info['wrk']}",
        f"- command: `{' '.join(['python', 'bench/bench.py', *args.argv])}`",
        f"- load: `{' '.join(wrk_command(args, script, 0, args.duration))}` "
        f"(port per server; `-s` prints wrk's figures as JSON), after a {args.warmup} s warm-up "
        f"run that is not counted; {args.rounds} interleaved rounds, rotated each round",
        f"- cpu2ms: `bench/models/cpu2ms.py`, {info['cpu2ms_iterations']:,} iterations of a "
        f"pure-Python loop, {info['cpu2ms_ms']:.2f} ms per call measured here alone (median), "
        "the same number for every server",
        "- every server writes an access-log line per request (to a file); log lines: lines "
        "the server wrote while wrk ran / requests wrk sent (warm-ups included)",
        "- requests/s counts 2xx answers only; non-2xx answers and socket errors (wrk's "
        "connect, read, write and timeout errors) are summed over the rounds",
        "- server CPU per 2xx: user+system CPU time of all the server's processes during the "
        "run / 2xx answers (what a useful answer costs, whatever CPU wrk leaves the server)",
        "",
    ]
    for model, servers in results.items():
        base = next((s for s in servers if s.name == "flask-dev" and s.rounds), None)
        dev = statistics.median(r["rps"] for r in base.rounds) if base else None
        raw = next((s for s in servers if s.name == "raw-rsgi" and s.rounds), None)
        bare = statistics.median(r["rps"] for r in raw.rounds) if raw else None
        title = "echo" if model == "echo" else "CPU-bound model, ~2 ms a call (cpu2ms)"
        lines += [
            f"## {title}",
            "",
            "| server | requests/s (median) | min-max | vs flask-dev | vs raw-rsgi | p50 | p99 "
            "| non-2xx | socket errors | server CPU per 2xx | log lines |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for s in servers:
            label = f"{s.name} ({s.description})"
            if not s.rounds:
                lines.append(f"| {label} | not measured: {s.problem} | | | | | | | | | |")
                continue
            rps = [r["rps"] for r in s.rounds]
            med = statistics.median(rps)
            p50 = statistics.median(r["p50_us"] for r in s.rounds) / 1000
            p99 = statistics.median(r["p99_us"] for r in s.rounds) / 1000
            cpu = statistics.median(r["server_cpu_us_per_2xx"] for r in s.rounds)
            non_2xx = sum(r["non_2xx"] for r in s.rounds)
            socket_errors = sum(r["socket_errors"] for r in s.rounds)
            logged = s.log_lines / max(1, s.requests_sent)
            lines.append(
                f"| {label} | {med:,.0f} | {min(rps):,.0f}-{max(rps):,.0f} | "
                f"{_ratio(med, dev)} | {_ratio(med, bare, percent=True)} | {p50:.1f} ms | "
                f"{p99:.1f} ms | {non_2xx:,} | {socket_errors:,} | {cpu:,.0f} µs | {logged:.2f} |"
            )
        lines.append("")
    lines += [
        "## Start-up and idle memory",
        "",
        f"Start: from spawning the process to its first 200 (`/readyz` for the app, `{PATH}` "
        f"for the others), echo model, median of {args.starts} cold starts (all shown), "
        "interleaved between servers; a start is mostly imports, so it slows down with the load "
        "average (shown: its range over the starts). Memory: "
        f"all of the server's processes (main, workers, helpers) {args.settle:g} s after it "
        "answered, before any load: RSS summed (shared pages counted in each process, as the "
        "issue's 103 MB was) and PSS summed (shared pages split between processes: what they "
        "really take together); then RSS again after the last round.",
        "",
        "| server | start (median) | starts | processes | idle RSS | idle PSS | cpu2ms idle RSS "
        "| RSS after the echo rounds |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    echo = {s.name: s for s in results.get("echo", [])}
    cpu = {s.name: s for s in results.get("cpu2ms", [])}
    for name in args.names:
        st = startup.get(name, {})
        seconds = st.get("seconds", [])
        start_text = f"{statistics.median(seconds) * 1000:,.0f} ms" if seconds else "-"
        all_text = ", ".join(f"{x * 1000:.0f}" for x in seconds) + (" ms" if seconds else "")
        if st.get("loadavg"):
            all_text += f" (load {min(st['loadavg']):.1f}-{max(st['loadavg']):.1f})"
        if st.get("problem"):
            all_text += f" ({st['problem']})"
        e, c = echo.get(name), cpu.get(name)
        mem = e.memory if e and e.memory.get("processes") else {}
        after = e.memory_after if e else {}
        cmem = c.memory if c and c.memory.get("processes") else {}
        lines.append(
            f"| {name} | {start_text} | {all_text} | {mem.get('processes', '-')} | "
            f"{_mb(mem, 'rss_mb')} | {_mb(mem, 'pss_mb')} | {_mb(cmem, 'rss_mb')} | "
            f"{_mb(after, 'rss_mb')} |"
        )
    lines += [
        "",
        "## Per round",
        "",
        "2xx requests/s, p99 ms, non-2xx and socket errors, CPU other processes took (% of one "
        "CPU), load average:",
        "",
    ]
    for model, servers in results.items():
        for s in servers:
            if not s.rounds:
                continue
            rounds = "; ".join(
                f"{r['rps']:,.0f}, {r['p99_us'] / 1000:.1f}, {r['errors']}, "
                f"{r['others_cpu_s'] / r['wall_s'] * 100:.0f}%, {r['loadavg']:.2f}"
                for r in s.rounds
            )
            lines.append(f"- {model} {s.name}: {rounds}")
    lines += ["", "## How each server runs the model", "", *HOW_THEY_RUN, "", "## Servers", ""]
    for model, servers in results.items():
        for s in servers:
            env = " ".join(
                f"{k}={v}" for k, v in s.env.items() if k not in ("PYTHONPATH", "BENTOML_HOME")
            )
            command = " ".join(s.command).replace(str(REPO) + "/", "")
            lines.append(f"- {model} {s.name}: `{env} {command}`")
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def _ratio(value: float, base: float | None, percent: bool = False) -> str:
    if not base:
        return "-"
    return f"{value / base * 100:.0f}%" if percent else f"{value / base:.1f}x"


def _mb(memory: dict, key: str) -> str:
    return f"{memory[key]:,.0f} MB" if key in memory else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per run (8)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds before each run (1)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--starts", type=int, default=5, help="cold starts timed per server (5)")
    parser.add_argument("--settle", type=float, default=1, help="seconds before idle memory (1)")
    parser.add_argument("--skip-startup", action="store_true", help="do not time cold starts")
    parser.add_argument(
        "--workers", type=int, default=0, help="python -m app's workers (default: its own)"
    )
    parser.add_argument(
        "--app-python",
        default=sys.executable,
        help="the Python that runs python -m app (default: this one)",
    )
    parser.add_argument(
        "--app-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra setting for python -m app, e.g. MAX_QUEUE=256 (repeatable; default none)",
    )
    parser.add_argument(
        "--app-variant",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="also measure python -m app with this setting, as a diagnostic row (repeatable)",
    )
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help=f"comma-separated ({','.join(SERVERS)})"
    )
    parser.add_argument(
        "--models", default=",".join(ALL_MODELS), help=f"comma-separated ({','.join(ALL_MODELS)})"
    )
    import minilm  # bench/minilm.py, beside this file

    minilm.add_arguments(parser)
    parser.add_argument("--minilm-rounds", type=int, default=1, help="minilm's rounds (1)")
    parser.add_argument("--minilm-duration", type=int, default=10, help="minilm's seconds (10)")
    parser.add_argument("--note", action="append", default=[], help="a line for the report's notes")
    args = parser.parse_args(argv)
    minilm.parse_lists(args)
    args.argv = sys.argv[1:] if argv is None else argv

    if shutil.which("wrk") is None:
        print(
            "bench: wrk is not installed, and this benchmark needs it as its load generator.\n"
            "  Debian/Ubuntu: apt-get update && apt-get install -y wrk\n"
            "  macOS:         brew install wrk",
            file=sys.stderr,
        )
        return 2
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(names) - set(SERVERS)) + sorted(set(models) - set(ALL_MODELS))
    if unknown or not names or not models:
        parser.error(f"unknown --servers or --models: {', '.join(unknown) or 'none given'}")
    names = [n for n in SERVERS if n in names]  # the report's order
    if any("=" not in item for item in [*args.app_env, *args.app_variant]):
        parser.error("--app-env and --app-variant take NAME=VALUE, e.g. MAX_QUEUE=256")

    RESULTS.mkdir(parents=True, exist_ok=True)
    notes: list[str] = list(args.note)
    bentoml_ok, why = ensure_peers_venv(RESULTS / "peers-install.log")
    if "bentoml" in names and not bentoml_ok:
        notes.append(f"bentoml left out: {why}")
        names.remove("bentoml")
    args.names = names
    info = machine(args.app_python)
    versions = peer_versions()

    # The same loop length for every server: measured here, before any server runs.
    os.environ.pop("CPU2MS_ITERATIONS", None)
    loader = importlib.util.spec_from_file_location("cpu2ms", BENCH / "models" / "cpu2ms.py")
    assert loader is not None and loader.loader is not None
    cpu2ms = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(cpu2ms)

    iterations = cpu2ms.calibrate()
    info["cpu2ms_iterations"] = iterations
    info["cpu2ms_ms"] = statistics.median(cpu2ms._timed(iterations) for _ in range(50)) * 1000

    app_env = dict(item.split("=", 1) for item in args.app_env)
    specs = server_specs(args.app_python, args.workers or info["default_workers"], app_env)
    # Diagnostics: python -m app again with one setting changed, measured in the same rounds.
    for item in args.app_variant:
        description, command, env, ready = specs["app"]
        name = f"app {item}"
        specs[name] = (f"diagnostic: {description} with {item}", command, env.copy(), ready)
        specs[name][2].update([item.split("=", 1)])
        names.insert(names.index("app") + 1 if "app" in names else len(names), name)
    results: dict[str, list[Server]] = {}
    startup: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="echo-bench-") as tmp_name:
        tmp = Path(tmp_name)
        script = tmp / "report.lua"
        script.write_text(WRK_REPORT)
        if not args.skip_startup:
            startup = measure_startup(names, specs, args.starts, iterations, tmp)
        for model in (m for m in models if m in MODELS):
            results[model] = run_model(args, model, names, specs, iterations, tmp, script)
        if "minilm" in models:  # its own rounds and durations, the rest of the arguments alike
            minilm_args = argparse.Namespace(**vars(args))
            minilm_args.rounds, minilm_args.duration = args.minilm_rounds, args.minilm_duration
            minilm_args.warmup = max(2, args.warmup)
            measured = minilm.measure(minilm_args, tmp)
        for name in names:
            for log in (f"start-{name}.log", f"echo-{name}.log", f"cpu2ms-{name}.log"):
                if (tmp / log).exists():
                    (tmp / log).unlink()
    info["loadavg_after"] = os.getloadavg()
    rounds = [r for servers in results.values() for s in servers for r in s.rounds]
    info["loadavg_during"] = [r["loadavg"] for r in rounds] or [0.0]
    shares = [r["others_cpu_s"] / r["wall_s"] * 100 for r in rounds] or [0.0]
    info["others_cpu_median"] = statistics.median(shares)
    info["others_cpu_max"] = max(shares)
    for servers in results.values():
        for s in servers:
            if s.problem and s.rounds:
                notes.append(f"{s.name}: {s.problem}")
    text = report(args, info, versions, results, startup, script, notes)
    if "minilm" in models:
        text += "\n" + "\n".join(minilm.section(minilm_args, measured))
    print(text)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.md").write_text(text)
    raw = {
        "machine": info,
        "versions": versions,
        "args": {k: v for k, v in vars(args).items()},
        "startup": startup,
        "models": {
            model: {
                s.name: {
                    "command": s.command,
                    "env": s.env,
                    "memory": s.memory,
                    "memory_after": s.memory_after,
                    "problem": s.problem,
                    "log_lines": s.log_lines,
                    "requests_sent": s.requests_sent,
                    "rounds": s.rounds,
                }
                for s in servers
            }
            for model, servers in results.items()
        },
    }
    if "minilm" in models:
        raw["minilm"] = measured
    (RESULTS / f"{stamp}.json").write_text(json.dumps(raw, indent=2) + "\n")
    print(f"saved bench/results/{stamp}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
