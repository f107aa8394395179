"""Benchmark: ``python -m app`` (granian) against the same app on Flask's development server.

Not a test: it measures, it does not assert. Run it from the repository root:

    python bench/bench.py                 # 3 rounds x 10 s per server
    python bench/bench.py --rounds 5 --servers flask-dev,app,gunicorn
    python bench/bench.py --rounds 1 --duration 5 --connections 64 --workers 3

It starts, side by side on loopback, the servers ``--servers`` names (default
``flask-dev,app``):

* ``flask-dev``: ``create_app().run()``, Flask's development server as the original article ran
  it (threaded, one thread per connection, a log line per request to stderr);
* ``app``: ``python -m app`` exactly as the image runs it (granian, the default worker count for
  this machine, the access log on);
* ``gunicorn``: the server ``python -m app`` ran before, for comparison: gunicorn's sync workers
  (``2 * CPUs + 1`` of them), its access log on in the same format. It needs gunicorn, which is
  no longer in the app's requirements: ``pip install gunicorn==27.0.1``.

and drives each in turn with wrk (same threads, connections, duration and URL), after a 1 s
warm-up, for ``--rounds`` interleaved rounds so that a neighbour's burst of CPU hits every server
alike. It prints a Markdown report (machine, date, exact commands, per-round figures, medians and
the ratio to the development server) and saves it with the raw figures under ``bench/results/``.

wrk keeps its connections open (HTTP/1.1 keep-alive) wherever the server allows: the development
server and granian do, gunicorn's sync workers close each after one request, so wrk reconnects.
wrk counts a connection no server ever answers as a timeout error only after ``--timeout`` (5 s),
so runs are kept longer than that. wrk shares the CPUs with the servers: on a 2-CPU machine it
takes a good part of one, so the figures are lower than the servers would reach alone, for all.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

RESULTS = REPO / "bench" / "results"
PATH = "/predict?msg=Hi_from_docker"

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

DEV_SERVER = (
    "import sys; from app import create_app; "
    "create_app().run(host='127.0.0.1', port=int(sys.argv[1]))"
)
# The server python -m app ran before granian, with the same settings it had.
GUNICORN_SERVER = """
import os
from gunicorn.app.base import BaseApplication
from app import create_app

class Sync(BaseApplication):
    def load_config(self):
        for key, value in {
            "bind": [f"{os.environ['HOST']}:{os.environ['PORT']}"],
            "workers": int(os.environ["WEB_CONCURRENCY"]),
            "worker_class": "sync",
            "accesslog": "-",
            "access_log_format": '%(h)s %({x-forwarded-for}i)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"',
            "control_socket_disable": True,
            "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
        }.items():
            self.cfg.set(key, value)

    def load(self):
        return create_app()

Sync(prog="gunicorn").run()
"""

SERVERS = ("flask-dev", "app", "gunicorn")


@dataclass
class Target:
    """A server under test."""

    name: str
    description: str
    command: list[str]
    env: dict[str, str]
    port: int = 0
    process: subprocess.Popen | None = None
    rounds: list[dict] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def targets(names: list[str], workers: int, cpus: float) -> list[Target]:
    py = sys.executable
    gunicorn_workers = str(int(2 * cpus + 1))  # gunicorn's rule, as python -m app had it
    available = {
        "flask-dev": ("Flask development server, app.run()", [py, "-c", DEV_SERVER], {}),
        "app": (
            f"python -m app: granian, {workers} workers",
            [py, "-m", "app"],
            {"HOST": "127.0.0.1", "WEB_CONCURRENCY": str(workers)},
        ),
        "gunicorn": (
            f"gunicorn 27 sync, {gunicorn_workers} workers (the previous python -m app)",
            [py, "-c", GUNICORN_SERVER],
            {"HOST": "127.0.0.1", "WEB_CONCURRENCY": gunicorn_workers},
        ),
    }
    found = []
    for name in names:
        description, command, env = available[name]
        port = free_port()
        if name == "flask-dev":
            command = [*command, str(port)]
        found.append(Target(name, description, command, {**env, "PORT": str(port)}, port))
    return found


def start(target: Target, logs: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST", "WEB_CONCURRENCY")}
    log = (logs / f"{target.name}.log").open("wb")  # every request is logged, by both servers
    target.process = subprocess.Popen(
        target.command, cwd=REPO, env={**env, **target.env}, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{target.port}/healthz", timeout=1):
                return
        except OSError:
            if target.process.poll() is not None:
                sys.exit(f"{target.name} exited with {target.process.returncode}; see {log.name}")
            time.sleep(0.1)
    sys.exit(f"{target.name} did not answer /healthz within 15 s; see {log.name}")


def stop(target: Target) -> None:
    if target.process and target.process.poll() is None:
        target.process.send_signal(signal.SIGTERM)
        try:
            target.process.wait(15)
        except subprocess.TimeoutExpired:
            target.process.kill()
            target.process.wait()


def wrk(args: argparse.Namespace, script: Path, port: int, duration: int) -> dict:
    command = wrk_command(args, script, port, duration)
    result = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=duration + 60
    )
    if result.returncode != 0:
        sys.exit(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    seconds = figures["duration_us"] / 1e6
    errors = sum(figures[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {**figures, "rps": figures["requests"] / seconds, "errors": errors}


def wrk_command(args: argparse.Namespace, script: Path, port: int, duration: int) -> list[str]:
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


def machine() -> dict:
    # Asked of the app itself, from the repository root, as python -m app would decide them.
    probe = "from app.server import available_cpus as a, default_workers as w; print(a(), w())"
    cpus, workers = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpus_available": float(cpus),
        "default_workers": int(workers),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "flask": metadata.version("flask"),
        "granian": metadata.version("granian"),
        "gunicorn": _version("gunicorn"),
        "wrk": subprocess.run(["wrk", "-v"], check=False, capture_output=True, text=True)
        .stdout.split("[")[0]
        .strip(),
        "loadavg_before": os.getloadavg()[0],
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report(args: argparse.Namespace, info: dict, all_targets: list[Target], script: Path) -> str:
    dev = statistics.median(r["rps"] for r in all_targets[0].rounds)
    lines = [
        "# echo-service benchmark",
        "",
        f"- date: {info['date']}",
        (
            f"- machine: {info['nproc']} CPUs ({info['cpu']}), kernel {info['kernel']}; "
            f"load average {info['loadavg_before']:.2f} before, {info['loadavg_after']:.2f} after"
        ),
        (
            f"- software: Python {info['python']}, Flask {info['flask']}, "
            f"granian {info['granian']}, gunicorn {info['gunicorn']}, {info['wrk']}"
        ),
        f"- command: `{' '.join(['python', 'bench/bench.py', *args.argv])}`",
        (
            f"- load: `{' '.join(wrk_command(args, script, 0, args.duration))}` "
            f"(port per server; a {args.warmup} s warm-up before each run is not counted); "
            f"{args.rounds} interleaved rounds; wrk runs on the same CPUs as the servers"
        ),
        "- every server logs each request (to a file), as it would in production",
        "- errors: wrk's connect, read, write, timeout and non-2xx/3xx counts, summed",
        "",
        "| server | requests/s (median) | min-max | p99 latency (median) | errors | vs flask-dev |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in all_targets:
        rps = [r["rps"] for r in t.rounds]
        p99 = statistics.median(r["p99_us"] for r in t.rounds) / 1000
        errors = sum(r["errors"] for r in t.rounds)
        lines.append(
            f"| {t.name}: {t.description} | {statistics.median(rps):,.0f} | "
            f"{min(rps):,.0f}-{max(rps):,.0f} | {p99:.1f} ms | {errors} | "
            f"{statistics.median(rps) / dev:.1f}x |"
        )
    lines += ["", "Per round (requests/s, p99 ms, errors):", ""]
    for t in all_targets:
        rounds = ", ".join(
            f"{r['rps']:,.0f} / {r['p99_us'] / 1000:.1f} / {r['errors']}" for r in t.rounds
        )
        lines.append(f"- {t.name}: {rounds}")
    lines += ["", "Servers:", ""]
    for t in all_targets:
        env = " ".join(f"{k}={v}" for k, v in t.env.items())
        command = " ".join(
            "GUNICORN_SERVER (in bench/bench.py)" if "\n" in part else part for part in t.command
        )
        lines.append(f"- {t.name}: `{env} {command}`".replace(sys.executable, "python"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (10)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds before each run (1)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument(
        "--workers", type=int, default=0, help="python -m app's workers (default: its own)"
    )
    parser.add_argument(
        "--servers",
        default="flask-dev,app",
        help=f"comma-separated, from {', '.join(SERVERS)} (flask-dev,app)",
    )
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv

    if shutil.which("wrk") is None:
        print(
            "bench: wrk is not installed, and this benchmark needs it as its load generator.\n"
            "  Debian/Ubuntu: apt-get update && apt-get install -y wrk\n"
            "  macOS:         brew install wrk",
            file=sys.stderr,
        )
        return 2

    names = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SERVERS))
    if unknown or not names:
        parser.error(f"--servers: unknown {', '.join(unknown)}; choose from {', '.join(SERVERS)}")
    if names[0] != "flask-dev":
        parser.error("--servers: flask-dev comes first, the others are compared with it")
    if "gunicorn" in names and importlib.util.find_spec("gunicorn") is None:
        print(
            "bench: --servers gunicorn needs gunicorn: pip install gunicorn==27.0.1",
            file=sys.stderr,
        )
        return 2

    info = machine()
    workers = args.workers or info["default_workers"]
    all_targets = targets(names, workers, info["cpus_available"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="echo-bench-") as tmp:
        script = Path(tmp) / "report.lua"
        script.write_text(WRK_REPORT)
        try:
            for t in all_targets:
                start(t, Path(tmp))
            for n in range(1, args.rounds + 1):
                for t in all_targets:
                    if args.warmup:
                        wrk(args, script, t.port, args.warmup)
                    figures = wrk(args, script, t.port, args.duration)
                    t.rounds.append(figures)
                    print(
                        f"round {n}/{args.rounds} {t.name:10} {figures['rps']:9,.0f} req/s  "
                        f"p99 {figures['p99_us'] / 1000:6.1f} ms  errors {figures['errors']}",
                        file=sys.stderr,
                    )
        finally:
            for t in all_targets:
                stop(t)
        info["loadavg_after"] = os.getloadavg()[0]
        text = report(args, info, all_targets, script)
    print(text)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.md").write_text(text)
    raw = {"machine": info, "args": vars(args), "servers": {}}
    for t in all_targets:
        raw["servers"][t.name] = {"command": t.command, "env": t.env, "rounds": t.rounds}
    (RESULTS / f"{stamp}.json").write_text(json.dumps(raw, indent=2) + "\n")
    print(f"saved bench/results/{stamp}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
