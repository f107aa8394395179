"""Benchmark: a real model, all-MiniLM-L6-v2, served by ``python -m app`` and by its batching peers.

Not a test: it measures, it does not assert. Side by side in one run, one sentence per request
(``POST /predict``), the same model code in every server (``bench/models/minilm.py``):

* ``app``: ``python -m app`` with its defaults (worker count, threads, batch limits: none set
  here), serving ``bench/models/minilm_app.py``, whose ``predict`` is declared ``@batch``;
* ``bentoml``: ``bentoml serve`` with adaptive batching (``bench/peers/minilm_bentoml.py``);
* ``litserve``: LitServe with batching (``bench/peers/minilm_litserve.py``);
* ``ray``: Ray Serve with ``@serve.batch`` (``bench/peers/minilm_ray.py``);
* the ceiling: the model called directly, no server, at batch 32 (sentences/s), and at batch 1
  (the latency of an unbatched call), before and after the servers.

Each runs from its own venv under ``$ECHO_BENCH_CACHE`` (default ``~/.cache/echo-bench``), outside
the repository, created here on the first run from ``bench/peers/minilm-requirements-*.txt``:
``torch==2.13.0`` first, alone, then the rest under ``bench/peers/minilm-constraints.txt``, so pip
never replaces the CPU torch by another build. About 1.5-2 GB per venv.

    .venv/bin/python bench/minilm.py                          # ~8 minutes on 2 CPUs
    .venv/bin/python bench/minilm.py --clients 1,16 --duration 3 --rounds 1 --minilm-servers app,ray
    .venv/bin/python bench/bench.py --models echo,cpu2ms,minilm   # all three in one report

All servers are started, each checked (its answer to the sentence must be the direct call's
embedding), their memory read, then wrk drives each at every ``--clients`` count in turn
(``--warmup`` seconds not counted, then ``--duration``), in ``--rounds`` rounds, each in a
rotated order. Sentences/s counts 2xx answers. The report is printed and, run on its own, saved
under ``bench/results/`` with the raw figures; from ``bench/bench.py`` it is a section of that
report.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench as harness  # bench/bench.py: this file runs from bench/, as bench.py does

REPO = harness.REPO
PEERS = REPO / "bench" / "peers"
CONSTRAINTS = PEERS / "minilm-constraints.txt"
CACHE = Path(os.environ.get("ECHO_BENCH_CACHE", Path.home() / ".cache" / "echo-bench"))
TORCH = "torch==2.13.0"
SENTENCE = "The quick brown fox jumps over the lazy dog while the servers batch its requests."
SERVERS = ("app", "bentoml", "litserve", "ray")
VERSIONS = ("torch", "sentence-transformers", "transformers", "granian", "bentoml", "litserve")
VERSIONS += ("ray", "uvicorn")

# wrk: POST the sentence; print the figures as one JSON line (as bench.py's WRK_REPORT).
WRK_POST = (
    """
wrk.method = "POST"
wrk.body = 'BODY'
wrk.headers["Content-Type"] = "application/json"
"""
    + harness.WRK_REPORT
)

HOW_THEY_RUN = {
    "app": "`python -m app`, nothing set: its default workers and thread pools for this "
    "machine; `@batch` with its defaults (at most 32 sentences, 10 ms wait)",
    "bentoml": "`bentoml serve`, 1 worker (default); `@bentoml.api(batchable=True, "
    "max_batch_size=32)`, adaptive batching, `max_latency_ms` left at its default",
    "litserve": "`LitServer(accelerator='cpu')`, 1 inference worker (default); "
    "`LitAPI(max_batch_size=32, batch_timeout=0.01)`",
    "ray": "a local Ray (`num_cpus`=2, no dashboard), Serve's HTTP proxy, 1 replica (default); "
    "`@serve.batch(max_batch_size=32, batch_wait_timeout_s=0.01)`",
}


# --- the venvs ---------------------------------------------------------------------------------


def venv_python(name: str) -> Path:
    return CACHE / name / "bin" / "python"


def ensure_venv(name: str, log: Path) -> None:
    """Create or update ``CACHE/name`` from its requirements; torch first, under the pin."""
    requirements = PEERS / f"minilm-requirements-{name}.txt"
    wanted = hashlib.sha256(requirements.read_bytes() + CONSTRAINTS.read_bytes()).hexdigest()
    stamp = CACHE / name / ".installed"
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    print(f"bench: installing {name}'s venv into {CACHE / name}", file=sys.stderr)
    CACHE.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        if not venv_python(name).exists():
            subprocess.run([sys.executable, "-m", "venv", str(CACHE / name)], check=True)
        pip = [str(venv_python(name)), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS)]
        for step in ([TORCH], ["-r", str(requirements)]):
            if subprocess.run([*pip, *step], stdout=out, stderr=out).returncode != 0:
                sys.exit(f"bench: could not install {' '.join(step)} into {name}; see {log}")
    stamp.write_text(wanted + "\n")


def versions(name: str) -> dict[str, str]:
    probe = (
        "import json, importlib.metadata as m\nout = {}\n"
        f"for p in {VERSIONS!r}:\n"
        "    try: out[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    result = subprocess.run(
        [str(venv_python(name)), "-c", probe], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


# --- the servers -------------------------------------------------------------------------------


def specs() -> dict[str, tuple[list[str], dict[str, str], object, object]]:
    """Name -> (command with {port}, environment, request body, answer -> embedding)."""
    return {
        "app": (
            [str(venv_python("app")), "-m", "app"],
            {"HOST": "127.0.0.1", "PORT": "{port}", "MODEL_MODULE": "bench.models.minilm_app"},
            {"msg": SENTENCE},
            lambda answer: answer["response"],
        ),
        "bentoml": (
            [
                *(str(CACHE / "bentoml" / "bin" / "bentoml"), "serve"),
                *("bench.peers.minilm_bentoml:Embed", "--host", "127.0.0.1", "--port", "{port}"),
            ],
            {"BENTOML_DO_NOT_TRACK": "true"},
            {"msg": [SENTENCE]},
            lambda answer: answer[0],
        ),
        "litserve": (
            [str(venv_python("litserve")), "-m", "bench.peers.minilm_litserve", "{port}"],
            {},
            {"msg": SENTENCE},
            lambda answer: answer["embedding"],
        ),
        "ray": (
            [str(venv_python("ray")), "-m", "bench.peers.minilm_ray", "{port}"],
            {"RAY_USAGE_STATS_ENABLED": "0", "RAY_BENCH_DIR": "{tmp}"},
            {"msg": SENTENCE},
            lambda answer: answer["embedding"],
        ),
    }


def make_server(name: str, tmp: Path) -> tuple[harness.Server, bytes, object]:
    command, extra, body, extract = specs()[name]
    port = harness.free_port()
    env = {k: v.replace("{port}", str(port)).replace("{tmp}", str(tmp)) for k, v in extra.items()}
    env |= {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env["BENTOML_HOME"] = str(tmp / "bentoml-home")
    command = [part.replace("{port}", str(port)) for part in command]
    description = HOW_THEY_RUN[name]
    server = harness.Server(name, description, command, env, "/predict", port)
    return server, json.dumps(body).encode(), extract


def post(port: int, body: bytes, timeout: float = 30) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", "/predict", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        connection.close()


def start(server: harness.Server, body: bytes, log: Path, timeout: float = 300) -> float:
    """Start ``server``; the seconds until it answers the sentence with 200, 20 times in a row.

    In a row, each on a new connection: a server of several workers answers once one of them
    has loaded the model, and 503 from the others until they have (``python -m app``).
    """
    server.log = log
    with log.open("ab") as out:
        started = time.perf_counter()
        server.process = subprocess.Popen(
            server.command,
            cwd=REPO,
            env=harness.environment(server),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ok = 0
    while time.perf_counter() < started + timeout:
        ok = ok + 1 if post(server.port, body, timeout=30)[0] == 200 else 0
        if ok == 20:
            return time.perf_counter() - started
        if server.process.poll() is not None:
            raise RuntimeError(f"exited with status {server.process.returncode}: {tail(log)}")
        time.sleep(0 if ok else 0.2)
    raise RuntimeError(f"no 200 within {timeout:g} s: {tail(log)}")


def tail(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(nothing logged)"


def check(server: harness.Server, body: bytes, extract, reference: list[float]) -> None:
    """The server's embedding of the sentence is the direct call's (cosine > 0.999)."""
    status, raw = post(server.port, body)
    try:
        vector = [float(x) for x in extract(json.loads(raw))]
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise RuntimeError(f"answered {status} {raw[:200]!r}: no embedding ({e})") from None
    cosine = sum(a * b for a, b in zip(vector, reference, strict=False))
    if status != 200 or len(vector) != len(reference) or not cosine > 0.999:
        raise RuntimeError(f"answered {status}, {len(vector)} floats, cosine {cosine:.4f}")


def stop(server: harness.Server) -> None:
    """Stop the server and every process it started (Ray's start their own sessions)."""
    if server.process is None:
        return
    pids = harness.tree(server.process.pid)
    harness.stop(server)
    for pid in pids[1:]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


# --- the measures ------------------------------------------------------------------------------


def ceiling(batch: int, seconds: float, env: dict[str, str], one_thread: bool = False) -> dict:
    """The model called directly (``bench/models/minilm.py``), in the app's venv.

    With torch's default threads (one per CPU), or with one (``OMP_NUM_THREADS=1``), which
    does better when other processes want the CPUs too: the ceiling is the better of the two.
    """
    if one_thread:
        env = {**env, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            *(str(venv_python("app")), "bench/models/minilm.py"),
            *("--batch", str(batch), "--seconds", str(seconds)),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["loadavg"] = os.getloadavg()[0]
    return figures


def reference(env: dict[str, str]) -> list[float]:
    probe = (
        "from bench.models import minilm; import json; "
        f"print(json.dumps(minilm.embed([{SENTENCE!r}])[0]))"
    )
    result = subprocess.run(
        [str(venv_python("app")), "-c", probe],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def drive(server: harness.Server, script: Path, clients: int, duration: float) -> dict:
    """One wrk run of ``clients`` connections against ``server``."""
    assert server.process is not None
    threads = min(2, clients)
    command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{duration}s", "--timeout", "10s"]
    command += ["-s", str(script), f"http://127.0.0.1:{server.port}/predict"]
    before = (harness.cpu_seconds(server.process.pid), harness.machine_busy_seconds())
    before += (harness._children_cpu(), time.perf_counter())
    result = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
    after = (harness.cpu_seconds(server.process.pid), harness.machine_busy_seconds())
    after += (harness._children_cpu(), time.perf_counter())
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr.strip()[:200]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    ok = figures["requests"] - figures["status"]
    server_cpu, busy = after[0] - before[0], after[1] - before[1]
    wall, wrk_cpu = after[3] - before[3], after[2] - before[2]
    return {
        **figures,
        "clients": clients,
        "command": " ".join(command),
        "rps": ok / (figures["duration_us"] / 1e6),
        "non_2xx": figures["status"],
        "socket_errors": sum(figures[k] for k in ("connect", "read", "write", "timeout")),
        "server_cpu_ms_per_2xx": server_cpu / max(1, ok) * 1000,
        "others_cpu_share": max(0.0, busy - server_cpu - wrk_cpu) / wall,
        "loadavg": os.getloadavg()[0],
    }


def ceilings(args: argparse.Namespace, env: dict[str, str], when: str) -> list[dict]:
    found = []
    for batch, seconds in ((32, args.ceiling_seconds), (1, args.ceiling_seconds / 2)):
        for one_thread in (False, True):
            figures = {"when": when, **ceiling(batch, seconds, env, one_thread)}
            found.append(figures)
            print(
                f"minilm direct, {when}, batch {batch:2}, {figures['torch_threads']} thread(s): "
                f"{figures['sentences_per_s']:6,.0f} sentences/s, "
                f"{figures['call_ms_median']:7.1f} ms a call, load {figures['loadavg']:.1f}",
                file=sys.stderr,
            )
    return found


def measure(args: argparse.Namespace, tmp: Path) -> dict:
    """Everything: the ceiling, the servers at each client count, the ceiling again."""
    log = harness.RESULTS / "minilm-install.log"
    harness.RESULTS.mkdir(parents=True, exist_ok=True)
    for name in ["app", *args.minilm_servers]:
        ensure_venv(name, log)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.pop(k, None)  # the ceiling: torch's defaults, as the peers run
    run: dict = {"loadavg_before": os.getloadavg(), "servers": {}, "problems": {}}
    run["versions"] = {name: versions(name) for name in ["app", *args.minilm_servers]}
    vector = reference(env)
    run["ceiling"] = ceilings(args, env, "before")
    script_dir = tmp / "minilm-wrk"
    script_dir.mkdir(exist_ok=True)
    servers = []
    try:
        for name in args.minilm_servers:
            server, body, extract = make_server(name, tmp)
            script = script_dir / f"{name}.lua"
            script.write_text(WRK_POST.replace("BODY", body.decode()))
            try:
                seconds = start(server, body, tmp / f"minilm-{name}.log")
                check(server, body, extract, vector)
            except RuntimeError as e:
                run["problems"][name] = str(e)
                print(f"minilm {name}: left out: {e}", file=sys.stderr)
                stop(server)
                continue
            server.memory = {"start_s": seconds}
            servers.append((server, script))
        time.sleep(2)
        for server, _ in servers:
            server.memory |= harness.memory(server.process.pid)
        for n in range(args.rounds if servers else 0):
            for clients in args.clients:
                order = servers[n % len(servers) :] + servers[: n % len(servers)]
                for server, script in order:
                    if server.name in run["problems"]:
                        continue
                    try:
                        if args.warmup:
                            drive(server, script, clients, args.warmup)
                        figures = drive(server, script, clients, args.duration)
                    except RuntimeError as e:
                        run["problems"][server.name] = str(e)
                        continue
                    server.rounds.append(figures)
                    print(
                        f"minilm round {n + 1}/{args.rounds} c={clients:<3} {server.name:9}"
                        f"{figures['rps']:7,.0f} sentences/s  p50 {figures['p50_us'] / 1000:7.1f}"
                        f" ms  p99 {figures['p99_us'] / 1000:7.1f} ms  errors "
                        f"{figures['non_2xx'] + figures['socket_errors']}  load "
                        f"{figures['loadavg']:.1f}",
                        file=sys.stderr,
                    )
        for server, _ in servers:
            if server.process.poll() is None:
                server.memory_after = harness.memory(server.process.pid)
    finally:
        for server, _ in servers:
            stop(server)
    run["ceiling"] += ceilings(args, env, "after")
    run["loadavg_after"] = os.getloadavg()
    for server, _ in servers:
        run["servers"][server.name] = {
            "command": server.command,
            "env": {k: v for k, v in server.env.items() if k != "BENTOML_HOME"},
            "memory": server.memory,
            "memory_after": server.memory_after,
            "rounds": server.rounds,
        }
    return run


# --- the report --------------------------------------------------------------------------------


def section(args: argparse.Namespace, run: dict) -> list[str]:
    """The report's MiniLM section, in Markdown."""
    best = max(c["sentences_per_s"] for c in run["ceiling"] if c["batch"] == 32)
    unbatched_ms = min(c["call_ms_median"] for c in run["ceiling"] if c["batch"] == 1)
    lines = [
        "## A real model: all-MiniLM-L6-v2, one sentence per request",
        "",
        "The model called directly, no server (`bench/models/minilm.py`), before and after the "
        "servers, with torch's default threads and with one: the ceiling is the best at batch "
        f"32, **{best:,.0f} sentences/s**; an unbatched call is the fastest median at batch 1, "
        f"**{unbatched_ms:.1f} ms**.",
        "",
        "| when | batch | torch threads | sentences/s | a call (median) | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {c['when']} | {c['batch']} | {c['torch_threads']} | "
            f"{c['sentences_per_s']:,.0f} | {c['call_ms_median']:,.1f} ms | {c['loadavg']:.1f} |"
            for c in run["ceiling"]
        ),
        "",
        f"Load: `wrk -tN -cCLIENTS -d{args.duration}s --timeout 10s -s post.lua` (N = 1 for one "
        f"client, else 2), each `POST /predict` one sentence, after a {args.warmup} s warm-up "
        f"not counted; {args.rounds} round(s), servers rotated; all servers running at once, "
        "each idle while another is measured. Sentences/s = 2xx answers/s; p50 and p99 are "
        "wrk's latencies; CPU = the server's processes' CPU time per answer; others = CPU other "
        "processes (not wrk, not the server) took meanwhile, in CPUs.",
        "",
        "| clients | server | sentences/s | of the ceiling | p50 | p99 | errors | CPU per "
        "answer | others | load |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    summary: dict[tuple[int, str], dict] = {}
    for clients in args.clients:
        for name in args.minilm_servers:
            rounds = [r for r in run["servers"].get(name, {}).get("rounds", [])]
            rounds = [r for r in rounds if r["clients"] == clients]
            if not rounds:
                why = run["problems"].get(name, "not measured")
                lines.append(f"| {clients} | {name} | not measured: {why} | | | | | | | |")
                continue
            med = {
                k: statistics.median(r[k] for r in rounds)
                for k in ("rps", "p50_us", "p99_us", "server_cpu_ms_per_2xx")
            }
            med["others"] = statistics.median(r["others_cpu_share"] for r in rounds)
            errors = sum(r["non_2xx"] + r["socket_errors"] for r in rounds)
            loads = [r["loadavg"] for r in rounds]
            if not any(r["requests"] - r["non_2xx"] for r in rounds):
                lines.append(f"| {clients} | {name} | 0: no answer within the run | | | | | | | |")
                continue
            summary[clients, name] = med
            lines.append(
                f"| {clients} | {name} | {med['rps']:,.0f} | {med['rps'] / best * 100:.0f}% | "
                f"{med['p50_us'] / 1000:,.1f} ms | {med['p99_us'] / 1000:,.1f} ms | {errors:,} | "
                f"{med['server_cpu_ms_per_2xx']:.1f} ms | {med['others']:.2f} | "
                f"{min(loads):.1f}-{max(loads):.1f} |"
            )
    lines += ["", "Against the issue's targets (this run's figures):", ""]
    top = max(args.clients)
    app = summary.get((top, "app"))
    peers = {n: s for (c, n), s in summary.items() if c == top and n != "app"}
    if app:
        share = app["rps"] / best * 100
        lines.append(
            f"- at {top} clients, the app served {share:.0f}% of the ceiling's sentences/s "
            f"(target: at least 90%): {'met' if share >= 90 else 'not met'}"
        )
        for name, s in sorted(peers.items()):
            ahead = app["rps"] > s["rps"] and app["p99_us"] < s["p99_us"]
            lines.append(
                f"- against {name} at {top} clients: {app['rps']:,.0f} vs {s['rps']:,.0f} "
                f"sentences/s, p99 {app['p99_us'] / 1000:,.0f} vs {s['p99_us'] / 1000:,.0f} ms: "
                + ("ahead on both" if ahead else "not ahead on both")
            )
    lone = summary.get((1, "app"))
    if lone:
        bound = unbatched_ms + 10
        lines.append(
            f"- at 1 client, the app's p50 is {lone['p50_us'] / 1000:.1f} ms against an "
            f"unbatched call's {unbatched_ms:.1f} ms + the 10 ms maximum wait = {bound:.1f} ms: "
            + ("within" if lone["p50_us"] / 1000 <= bound else "not within")
            + f" (p99 {lone['p99_us'] / 1000:.1f} ms)"
        )
    lines += [
        "",
        "| server | how it runs | start to 20 answers in a row | processes | RSS idle | PSS idle "
        "| RSS after |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in args.minilm_servers:
        s = run["servers"].get(name)
        if not s:
            continue
        m, after = s["memory"], s["memory_after"]
        lines.append(
            f"| {name} | {HOW_THEY_RUN[name]} | {m['start_s']:.1f} s | {m.get('processes', '-')} "
            f"| {harness._mb(m, 'rss_mb')} | {harness._mb(m, 'pss_mb')} | "
            f"{harness._mb(after, 'rss_mb')} |"
        )
    lines += ["", "Venvs (under the cache directory, outside the repository):", ""]
    for name, v in run["versions"].items():
        lines.append(f"- {name}: " + ", ".join(f"{k} {x}" for k, x in v.items()))
    for name, why in run["problems"].items():
        lines.append(f"- {name}: {why}")
    lines += ["", "Commands:", ""]
    for name, s in run["servers"].items():
        env = " ".join(f"{k}={v}" for k, v in s["env"].items())
        command = " ".join(s["command"]).replace(str(CACHE), "$CACHE")
        lines.append(f"- {name}: `{env} {command}`")
    return [*lines, ""]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", default="1,16,64", help="wrk connections, in turn (1,16,64)")
    parser.add_argument(
        "--minilm-servers", default=",".join(SERVERS), help=f"comma-separated ({','.join(SERVERS)})"
    )
    parser.add_argument(
        "--ceiling-seconds", type=float, default=6, help="seconds at batch 32 (6; half at 1)"
    )


def parse_lists(args: argparse.Namespace) -> None:
    args.clients = [int(c) for c in str(args.clients).split(",") if c.strip()]
    names = {n.strip() for n in str(args.minilm_servers).split(",") if n.strip()}
    if names - set(SERVERS):
        sys.exit(f"bench: unknown --minilm-servers: {', '.join(sorted(names - set(SERVERS)))}")
    args.minilm_servers = [n for n in SERVERS if n in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each run (2)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (2)")
    parser.add_argument("--note", action="append", default=[], help="a line for the report")
    add_arguments(parser)
    args = parser.parse_args(argv)
    parse_lists(args)
    argv = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory(prefix="echo-bench-") as tmp:
        run = measure(args, Path(tmp))
    info = harness.machine(str(venv_python("app")))
    lines = [
        "# echo-service benchmark: a real model, python -m app and its batching peers",
        "",
        f"- date: {info['date']}; app at commit {info['app_commit']}"
        + (" (app/ with uncommitted changes)" if info["app_dirty"] else ""),
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_total_mb']:,} MB; "
        "wrk runs on the same CPUs as the servers",
        f"- load average (1 min): {run['loadavg_before'][0]:.2f} before, "
        f"{run['loadavg_after'][0]:.2f} after (each row has its own)",
        f"- command: `python bench/minilm.py {' '.join(argv)}`",
        *[f"- note: {n}" for n in args.note],
        "",
        *section(args, run),
    ]
    text = "\n".join(lines)
    print(text)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (harness.RESULTS / f"{stamp}.md").write_text(text)
    (harness.RESULTS / f"{stamp}.json").write_text(json.dumps(run, indent=2) + "\n")
    print(f"saved bench/results/{stamp}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
