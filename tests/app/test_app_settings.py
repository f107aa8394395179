"""The server's settings: environment variables, the CPU limit and the granian options."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from granian.constants import HTTPModes, Interfaces
from granian.log import LogLevels
from granian.server import Server

from app import server
from app.server import ConfigError, Settings, load_settings

# --- environment variables ---------------------------------------------------------------------


def test_defaults():
    settings = load_settings({})
    assert settings.host == "0.0.0.0"
    assert settings.port == 8080
    assert settings.bind == "0.0.0.0:8080"
    assert settings.workers == server.default_workers()
    assert settings.timeout == 30
    assert settings.max_queue == 128
    assert settings.body_timeout == 15
    assert settings.keepalive_timeout == 75
    assert settings.graceful_timeout == 10
    assert settings.model_module == "app.model"
    assert settings.max_content_length == 1024 * 1024
    assert settings.log_level == "info"


def test_every_variable_is_read():
    settings = load_settings(
        {
            "HOST": "127.0.0.1",
            "PORT": "9000",
            "WEB_CONCURRENCY": "3",
            "TIMEOUT": "120",
            "MAX_QUEUE": "0",
            "BODY_TIMEOUT": "5",
            "KEEPALIVE_TIMEOUT": "90",
            "GRACEFUL_TIMEOUT": "25",
            "MAX_CONTENT_LENGTH": "10485760",
            "MODEL_MODULE": "models.churn",
            "LOG_LEVEL": "WARNING",
        }
    )
    assert settings == Settings(
        host="127.0.0.1",
        port=9000,
        workers=3,
        timeout=120,
        max_queue=0,
        body_timeout=5,
        keepalive_timeout=90,
        graceful_timeout=25,
        max_content_length=10485760,
        model_module="models.churn",
        log_level="warning",
    )


def test_empty_values_mean_the_default():
    assert load_settings({"PORT": "", "WEB_CONCURRENCY": " ", "HOST": ""}) == load_settings({})


def test_an_ipv6_host_is_bracketed_in_messages():
    assert Settings(host="::1", port=8080).bind == "[::1]:8080"


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("PORT", "abc", "an integer from 1 to 65535"),
        ("PORT", "70000", "an integer from 1 to 65535"),
        ("PORT", "0", "an integer from 1 to 65535"),
        ("PORT", "-1", "an integer from 1 to 65535"),
        ("PORT", "8080.0", "an integer from 1 to 65535"),
        ("WEB_CONCURRENCY", "0", "an integer from 1 to 256"),
        ("WEB_CONCURRENCY", "-2", "an integer from 1 to 256"),
        ("WEB_CONCURRENCY", "four", "an integer from 1 to 256"),
        ("TIMEOUT", "0", "an integer from 1 to 3600"),
        ("GRACEFUL_TIMEOUT", "-1", "an integer from 0 to 3600"),
        ("MAX_QUEUE", "-1", "an integer from 0 to 100000"),
        ("BODY_TIMEOUT", "0", "an integer from 1 to 3600"),
        ("KEEPALIVE_TIMEOUT", "1m", "an integer from 1 to 3600"),
        ("MODEL_MODULE", "app/model.py", "a dotted module name such as app.model"),
        ("MODEL_MODULE", "app..model", "a dotted module name such as app.model"),
        ("MAX_CONTENT_LENGTH", "1MB", "an integer from 1 to 2147483647"),
        ("MAX_CONTENT_LENGTH", "0", "an integer from 1 to 2147483647"),
        ("LOG_LEVEL", "verbose", "one of debug, info, warning, error, critical"),
        ("HOST", "not a host!", "an IP address or a name this machine resolves"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(name, value, allowed):
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name}={value!r} is not allowed")
    assert allowed in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PORT": "abc"}, "PORT='abc' is not allowed: use an integer from 1 to 65535"),
        ({"PORT": "70000"}, "PORT='70000' is not allowed"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY='0' is not allowed"),
    ],
)
def test_python_m_app_exits_with_one_clear_line_for_a_bad_value(env, expected):
    environ = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "WEB_CONCURRENCY")}
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        check=False,
        cwd=Path(__file__).resolve().parents[2],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


# --- the CPU limit -----------------------------------------------------------------------------


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("files", "cpus"),
    [
        ({"cpu.max": "25000 100000\n"}, 0.25),  # a 0.25-vCPU Fargate task
        ({"cpu.max": "50000 100000\n"}, 0.5),  # a Kubernetes limit of 500m
        ({"cpu.max": "200000 100000\n"}, 2.0),
        ({"cpu.max": "max 100000\n"}, None),  # v2 without a limit
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),
        (
            {"cpu,cpuacct/cpu.cfs_quota_us": "150000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
            1.5,
        ),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1, none
        ({}, None),  # no cgroup filesystem (macOS, or /sys not mounted)
        ({"cpu.max": "garbage"}, None),
        ({"cpu.max": "1000 0"}, None),
    ],
)
def test_the_cgroup_cpu_limit_is_read_from_v2_or_v1_files(tmp_path, files, cpus):
    assert server.cgroup_cpu_limit(write(tmp_path, files)) == cpus


def test_available_cpus_is_the_quota_capped_by_the_cpus_we_may_run_on(tmp_path):
    usable = len(os.sched_getaffinity(0))
    assert server.available_cpus(write(tmp_path / "a", {"cpu.max": "25000 100000"})) == 0.25
    assert server.available_cpus(write(tmp_path / "b", {"cpu.max": "max 100000"})) == usable
    assert server.available_cpus(write(tmp_path / "c", {"cpu.max": "6400000 100000"})) == usable


@pytest.mark.parametrize(
    ("cpus", "workers"),
    [(0.25, 2), (0.5, 2), (1, 2), (1.5, 2), (2, 2), (2.5, 3), (3, 3), (4, 4), (8, 8), (64, 8)],
)
def test_default_workers_is_the_cpus_rounded_up_clamped_to_2_to_8(cpus, workers):
    assert server.default_workers(cpus) == workers


def test_a_quarter_vcpu_task_on_a_big_host_gets_2_workers_not_16(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    cpus = server.available_cpus(write(tmp_path, {"cpu.max": "25000 100000"}))
    assert server.default_workers(cpus) == 2


# --- granian ------------------------------------------------------------------------------------


def test_every_option_is_a_real_granian_server_argument():
    # A misspelt name would only fail when the server starts; catch it here.
    known = set(inspect.signature(Server.__init__).parameters)
    options = server.granian_options(Settings())
    assert set(options) <= known, set(options) - known


def test_granian_options_for_containers():
    options = server.granian_options(
        Settings(host="::", port=9000, workers=3, graceful_timeout=7, log_level="warning")
    )
    assert (options["address"], options["port"]) == ("::", 9000)
    assert options["interface"] == Interfaces.RSGI
    assert options["workers"] == 3
    assert options["http"] == HTTPModes.http1
    # Idle keep-alive connections outlive the ALB's 60 s idle timeout (hyper's header read
    # timeout also closes idle keep-alive connections: measured on granian 2.8.7, 30 s default).
    assert options["http1_settings"].header_read_timeout == 75_000
    assert options["backpressure"] == server.CONNECTIONS_PER_WORKER >= 4096
    assert options["workers_kill_timeout"] == 7
    assert options["respawn_failed_workers"] is True
    assert options["log_level"] == LogLevels.warning
    assert options["log_access"] is False  # server.AccessLog writes it


def test_a_graceful_timeout_of_0_kills_at_once_rather_than_never():
    # Granian reads a kill timeout of 0 as "wait for ever".
    assert 0 < server.granian_options(Settings(graceful_timeout=0))["workers_kill_timeout"] < 0.1


def test_granian_logs_its_own_messages_to_stderr_not_to_the_access_log_stdout():
    handlers = server.SERVER_LOG_CONFIG["handlers"]
    assert {h["stream"] for h in handlers.values()} == {"ext://sys.stderr"}
