"""`make image-test`: the endpoint's image built for real and run the way each target runs it.

    python -m infra.imagetest                 # what `make image-test` runs
    python -m infra.imagetest --engine podman # force an engine (default: Docker if `docker info`
                                              # works, else podman)

It builds `app/` with its own Dockerfile, then starts the image once per target (aws, gcp, local)
with that target's restrictions: a read-only root filesystem, no capabilities, no new privileges,
the image's non-root user (gcp's numeric uid), `METRICS_PORT` set, and `/tmp` mounted as the
target mounts it:

* aws: the task volume Fargate mounts on /tmp is an empty directory owned by root, mode 0755,
  unless the image declares /tmp a VOLUME, in which case Fargate fills it from the image. So with
  the VOLUME the container gets the engine's anonymous volume (filled from the image the same
  way), and without it a bind mount of an empty root-owned 0755 directory;
* gcp: an emptyDir, which kubelet makes as an empty 0777 directory on the node's disk: a bind
  mount of one (not a tmpfs: runc gives a tmpfs over /tmp the image's mode, kubelet does not);
* local: the tmpfs `infra.local.TMPFS` names, as the Docker provider passes it.

Against each container: `python -m infra.smoke URL` passes, the image's HEALTHCHECK passes
(`podman healthcheck run`, or its command in `docker exec`), the metrics port answers, the user is
not root, /tmp is writable by it and the root filesystem is not, and SIGTERM stops the container
with exit status 0 within `STOP_WITHIN_SECONDS`. Every package the image's pip installed must be
pinned in the build context's requirements.txt. Then the same with the iris example
(`examples/iris`, trained first) over a copy of `app/` in a temporary build context.

With no Docker engine it uses Debian's podman: as root it installs podman, runc and debootstrap
from Debian's packages when they are missing, and writes `/etc/containers/containers.conf`
(runc, ulimits within the machine's hard limits) when there is none. No registry is needed: the
base image is a stand-in made from Debian bookworm's packages (`STANDIN`, Python 3.11 where the
real base has 3.12), built once with debootstrap from the machine's own apt mirror and kept in
podman's storage. With Docker the Dockerfile's own pinned base image is used.

pip in the build gets the host's CA bundle and a pip configuration made from the host's (its
index settings) as build secrets, so a proxy that re-signs TLS works and nothing lands in a layer.

Exit status 0 when every check passed, 1 when one failed.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app"
IRIS = REPO / "examples" / "iris"

# The base image made from Debian's packages where no registry is reachable. Named as what it is:
# the image users get is the Dockerfile's default (python:3.12.12-slim-bookworm).
STANDIN = "localhost/echo-service-base:bookworm-standin"
SUITE = "bookworm"  # the Debian release python:3.12.12-slim-bookworm is built on
# What python:*-slim gives the Dockerfile: `python`, a pip that installs into the system, and
# groupadd/useradd (in minbase already, from `passwd`).
STANDIN_PACKAGES = ("python3", "python3-pip", "python-is-python3")
STANDIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# What the podman path needs on the machine: Debian's crun refuses these kernels' mixed cgroups.
PODMAN_PACKAGES = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap"}
CONTAINERS_CONF = Path("/etc/containers/containers.conf")
# podman's default process limit is above what these machines allow a container (runc then fails
# setting rlimits); 32768 is ample for the server's workers and threads.
NPROC_LIMIT = 32768
PODMAN_DEFAULT_NOFILE = 1048576

IMAGE = "localhost/echo-service:image-test"
IRIS_IMAGE = "localhost/echo-service-iris:image-test"
CONTAINER_PORT = 8080
METRICS_PORT = 9090
# The shortest grace any target gives before SIGKILL is 15 s (the local stack's); an idle server
# must be well within it.
STOP_WITHIN_SECONDS = 5.0
READY_WITHIN_SECONDS = 60.0
# Packages the base image brings along with Python (pinned by the base image's tag, not ours).
BASE_TOOLS = frozenset({"pip", "setuptools", "wheel"})
# The pip options a build can use from the host's configuration: where packages come from and
# how to reach it. Paths on the host (find-links folders, constraint files, file:// indexes) do
# not exist in the build; the CA bundle goes in as a secret of its own.
PIP_NETWORK_OPTIONS = (
    "index-url",
    "extra-index-url",
    "trusted-host",
    "timeout",
    "retries",
    "proxy",
)
PIP_URL_OPTIONS = frozenset({"index-url", "extra-index-url"})

TARGETS = ("aws", "gcp", "local")

# Run inside the container: the user, /tmp writable (as a model's `tempfile` use needs), the root
# filesystem read-only. Prints "uid tmp_ok root_read_only".
PROBE = """
import errno, os, tempfile
with tempfile.TemporaryFile() as f:
    f.write(b"x")
try:
    open("/srv/written-at-run-time", "w")
except OSError as e:
    ro = e.errno == errno.EROFS
else:
    ro = False
print(os.getuid(), True, ro)
"""
# Run in the image: every distribution in the site folder pip installed the requirements into,
# and what is left in /run/secrets (nothing: the build's secrets are never in a layer).
INSTALLED = """
import importlib.metadata as m, json, os, granian
site = os.path.dirname(os.path.dirname(granian.__file__))
left = os.listdir("/run/secrets") if os.path.isdir("/run/secrets") else []
print(json.dumps({d.metadata["Name"]: d.version for d in m.distributions(path=[site])}))
print(json.dumps(left))
"""


class ImageTestError(Exception):
    """A check failed; the message says which and why."""


# ---------------------------------------------------------------------------------------------
# Pure parts (tested in tests/infra/test_imagetest.py)


def debian_mirror(sources: dict[str, str], suite: str = SUITE) -> str:
    """The first apt source serving `suite`'s main component, from apt's sources files.

    Args:
        sources: File name to text, for /etc/apt/sources.list (one-line form) and the files in
            /etc/apt/sources.list.d (`*.list` one-line, `*.sources` deb822).

    Raises:
        ImageTestError: no source serves the suite.
    """
    for name, text in sources.items():
        if name.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.strip().startswith("#") or ":" not in line:
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                if (
                    "deb" in fields.get("types", "").split()
                    and suite in fields.get("suites", "").split()
                    and "main" in fields.get("components", "").split()
                    and fields.get("uris")
                ):
                    return fields["uris"].split()[0]
        else:
            for line in text.splitlines():
                words = [w for w in re.sub(r"\[[^]]*\]", " ", line.split("#")[0]).split()]
                if len(words) >= 4 and words[0] == "deb" and words[2] == suite and "main" in words:
                    return words[1]
    raise ImageTestError(f"no apt source serves Debian {suite} main (read /etc/apt/sources.list*)")


def containers_conf(nofile_hard: int) -> str:
    """containers.conf for podman here: runc, and default ulimits no higher than the machine's
    (`nofile_hard`: RLIMIT_NOFILE's hard limit; unlimited becomes podman's own default)."""
    if nofile_hard < 0 or nofile_hard == resource.RLIM_INFINITY:
        nofile_hard = PODMAN_DEFAULT_NOFILE
    return (
        "# Written by echo-service's `make image-test` (infra/imagetest.py): none was here.\n"
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile_hard}:{nofile_hard}", '
        f'"nproc={NPROC_LIMIT}:{NPROC_LIMIT}"]\n'
        "\n"
        "[engine]\n"
        'runtime = "runc"\n'
    )


def parse_pip_config_list(text: str) -> dict[str, str]:
    """`pip config list` output (`global.cert='...'`, `:env:.timeout='...'`) as option to value,
    the environment's over the files' as pip itself ranks them."""
    found: dict[str, tuple[int, str]] = {}
    for line in text.splitlines():
        m = re.fullmatch(r"(?P<section>[^.=]*)\.(?P<key>[a-z0-9_-]+)='(?P<value>.*)'", line.strip())
        if not m:
            continue
        rank = 2 if m["section"] == ":env:" else 1 if m["section"] == "install" else 0
        key = m["key"]
        if key not in found or rank >= found[key][0]:
            found[key] = (rank, m["value"])
    return {key: value for key, (_, value) in found.items()}


def pip_build_config(settings: dict[str, str]) -> str:
    """The pip configuration a build gets: the host's network options, without host paths."""
    config = configparser.ConfigParser()
    config["global"] = {}
    for key in PIP_NETWORK_OPTIONS:
        value = settings.get(key) or (settings.get("default-timeout") if key == "timeout" else None)
        if not value:
            continue
        if key in PIP_URL_OPTIONS:
            value = " ".join(u for u in value.split() if u.startswith(("http://", "https://")))
            if not value:
                continue
        config["global"][key] = value
    lines: list[str] = []
    for section in config.sections():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {v}" for k, v in config[section].items())
    return "\n".join(lines) + "\n"


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_pins(text: str) -> dict[str, str]:
    """`name==version` lines of a requirements file, by normalized name (others are skipped)."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        name, sep, version = line.partition("==")
        if sep and name.strip():
            pins[normalize(name.strip().split("[")[0])] = version.strip()
    return pins


def unpinned(installed: dict[str, str], pins: dict[str, str]) -> list[str]:
    """What pip put in the image without a matching `==` pin, as `name version (pin)`."""
    out = []
    for name, version in sorted(installed.items()):
        key = normalize(name)
        if key in BASE_TOOLS:
            continue
        if pins.get(key) != version:
            out.append(f"{name} {version} (pinned: {pins.get(key, 'no')})")
    return out


def image_declares(volumes: dict | None, path: str = "/tmp") -> bool:
    """Whether an image's `Config.Volumes` (from inspect) declares `path`."""
    return path in (volumes or {})


def tmp_mount(target: str, engine: str, declared: bool, scratch: Path) -> list[str]:
    """The run arguments that mount /tmp as `target` does.

    Args:
        target: aws, gcp or local.
        engine: podman or docker.
        declared: Whether the image declares /tmp a VOLUME.
        scratch: An empty folder for the bind-mounted directories.
    """
    if target == "aws":
        if declared:
            return []  # the engine's anonymous volume, filled from the image like Fargate's
        empty = scratch / "aws-tmp"
        empty.mkdir(mode=0o755)
        empty.chmod(0o755)
        return ["--mount", f"type=bind,source={empty},destination=/tmp"]
    if target == "gcp":
        empty = scratch / "gcp-tmp"
        empty.mkdir()
        empty.chmod(0o777)  # what kubelet makes an emptyDir
        return ["--mount", f"type=bind,source={empty},destination=/tmp"]
    if target == "local":
        from infra.local import TMPFS

        # Docker does not copy the image's files into a tmpfs; podman does unless told not to.
        extra = ",notmpcopyup" if engine == "podman" else ""
        return [arg for path, opts in TMPFS.items() for arg in ("--tmpfs", f"{path}:{opts}{extra}")]
    raise ValueError(f"unknown target {target!r}")


def run_args(
    engine: str, name: str, image: str, target: str, mount: list[str], ports: tuple[int, int]
) -> list[str]:
    """`ENGINE run` arguments for the image as `target` runs it, detached."""
    port, metrics_port = ports
    args = [
        "run",
        "--detach",
        "--name",
        name,
        "--read-only",
        "--cap-drop=ALL",
        "--security-opt",
        "no-new-privileges",
        "--env",
        f"METRICS_PORT={METRICS_PORT}",
        "--publish",
        f"127.0.0.1:{port}:{CONTAINER_PORT}",
        "--publish",
        f"127.0.0.1:{metrics_port}:{METRICS_PORT}",
    ]
    if engine == "podman":
        # podman mounts a tmpfs on /tmp with --read-only unless told not to; Docker does not.
        args.append("--read-only-tmpfs=false")
    if target == "gcp":
        args += ["--user", "10001:10001"]  # runAsUser/runAsGroup (infra.gcp.workload.RUN_AS_UID)
    return [*args, *mount, image]


# ---------------------------------------------------------------------------------------------
# The machine


def sh(*args: str, timeout: float = 600, check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Run a command, capturing its output; raise ImageTestError on a non-zero exit when `check`."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and done.returncode != 0:
        raise ImageTestError(
            f"{' '.join(args[:4])} ...: exit {done.returncode}\n{done.stderr[-3000:]}"
        )
    return done


def docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode == 0


def set_up_podman() -> None:
    """Install podman, runc and debootstrap from Debian's packages if missing; write
    containers.conf if there is none (a machine's own configuration is left alone)."""
    missing = [pkg for tool, pkg in PODMAN_PACKAGES.items() if shutil.which(tool) is None]
    if missing:
        if os.geteuid() != 0:
            raise ImageTestError(f"install {' '.join(missing)} (apt-get install), or start Docker")
        print(f"image-test: installing {' '.join(missing)} from Debian's packages", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        sh("apt-get", "update", "-q", env=env)
        # With their recommends (netavark, slirp4netns, ...), as podman is installed on these
        # machines; runc in the same command satisfies podman's `crun | runc`.
        sh("apt-get", "install", "-y", "-q", *missing, env=env)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if not CONTAINERS_CONF.exists() and os.geteuid() == 0:
        CONTAINERS_CONF.parent.mkdir(parents=True, exist_ok=True)
        CONTAINERS_CONF.write_text(containers_conf(hard))
        print(f"image-test: wrote {CONTAINERS_CONF} (runc, nofile={hard}, nproc={NPROC_LIMIT})")
    elif CONTAINERS_CONF.exists() and "default_ulimits" not in CONTAINERS_CONF.read_text():
        print(
            f"image-test: {CONTAINERS_CONF} sets no default_ulimits (left as it is); if a run"
            f" fails 'setting rlimit', add this:\n{containers_conf(hard)}",
            flush=True,
        )


def apt_sources() -> dict[str, str]:
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    return {
        str(f): f.read_text()
        for f in files
        if f.is_file() and (f.name == "sources.list" or f.suffix in (".list", ".sources"))
    }


def ensure_standin() -> None:
    """Make the stand-in base image from Debian's packages, unless podman has it already."""
    if sh("podman", "image", "exists", STANDIN, check=False).returncode == 0:
        return
    mirror = debian_mirror(apt_sources())
    print(f"image-test: making {STANDIN} with debootstrap (once)", flush=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="echo-standin-") as d:
        root = Path(d) / "rootfs"
        include = ",".join(STANDIN_PACKAGES)
        sh("debootstrap", "--variant=minbase", f"--include={include}", SUITE, str(root), mirror)
        # python:*-slim's pip installs into its Python; Debian's refuses without this (PEP 668).
        for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        # apt's downloads and lists: nothing in the image needs them.
        for folder in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (root / folder).glob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        try:
            sh(
                "podman",
                "import",
                "--change",
                f"ENV PATH={STANDIN_PATH}",
                "--change",
                'CMD ["python3"]',
                "-",
                STANDIN,
                stdin=tar.stdout,
            )
        finally:
            tar.stdout.close()
            tar.wait()
    print(f"image-test: made {STANDIN} in {time.monotonic() - start:.0f} s", flush=True)


@contextlib.contextmanager
def pip_secrets() -> Iterator[list[str]]:
    """`--secret` build arguments: the CA bundle pip uses here and the network options of its
    configuration, in files that exist only for the build."""
    done = sh(sys.executable, "-m", "pip", "config", "list", check=False)
    settings = parse_pip_config_list(done.stdout)
    with tempfile.TemporaryDirectory(prefix="echo-pip-") as d:
        conf = Path(d) / "pip.conf"
        conf.write_text(pip_build_config(settings))
        conf.chmod(0o600)
        args = ["--secret", f"id=pip-conf,src={conf}"]
        cert = settings.get("cert")
        if cert and Path(cert).is_file():
            args += ["--secret", f"id=pip-cert,src={cert}"]
        yield args


def image_id(engine: str, image: str) -> str | None:
    done = sh(engine, "image", "inspect", "--format", "{{.Id}}", image, check=False)
    return done.stdout.strip() or None if done.returncode == 0 else None


def build(engine: str, context: Path, image: str, base: str | None, secrets: list[str]) -> float:
    """Build `context` with app/Dockerfile as `image`; return the seconds it took. The previous
    build of the tag is removed, so test images do not pile up."""
    before = image_id(engine, image)
    args = [engine, "build", "--tag", image, "--file", str(context / "Dockerfile"), *secrets]
    if engine == "podman":
        args += ["--format", "docker"]  # podman's own format drops HEALTHCHECK
    if base:
        args += ["--build-arg", f"BASE_IMAGE={base}"]
    start = time.monotonic()
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    done = subprocess.run(
        [*args, str(context)], capture_output=True, text=True, timeout=1200, env=env
    )
    if done.returncode != 0:
        raise ImageTestError(f"build of {image} failed:\n{(done.stdout + done.stderr)[-4000:]}")
    after = image_id(engine, image)
    if before and before != after:
        sh(engine, "image", "rm", before, check=False)
    return time.monotonic() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, reply.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


@dataclass
class Container:
    engine: str
    name: str

    def state(self) -> dict:
        done = sh(self.engine, "inspect", "--format", "{{json .State}}", self.name, check=False)
        return json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else {}

    def logs(self) -> str:
        done = sh(self.engine, "logs", self.name, check=False)
        return (done.stdout + done.stderr)[-3000:]

    def fail(self, why: str) -> ImageTestError:
        return ImageTestError(f"{self.name}: {why}\n--- container log ---\n{self.logs()}")

    def exec(self, *command: str) -> subprocess.CompletedProcess:
        return sh(self.engine, "exec", self.name, *command, check=False, timeout=60)

    def remove(self) -> None:
        sh(self.engine, "rm", "--force", "--volumes", self.name, check=False, timeout=120)


def healthcheck(box: Container, image: str) -> None:
    """The image's own HEALTHCHECK, run once."""
    done = sh(box.engine, "image", "inspect", "--format", "{{json .Config.Healthcheck}}", image)
    check = json.loads(done.stdout or "null")
    if not check or not check.get("Test"):
        raise box.fail("the image has no HEALTHCHECK (podman: build with --format docker)")
    if box.engine == "podman":
        ran = sh("podman", "healthcheck", "run", box.name, check=False, timeout=60)
    else:
        test = check["Test"]
        command = test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]]
        ran = box.exec(*command)
    if ran.returncode != 0:
        raise box.fail(f"the HEALTHCHECK failed: {ran.stdout}{ran.stderr}")


def check_target(engine: str, image: str, label: str, target: str, declared: bool) -> str:
    """Run the image as `target` does and check it; return a one-line summary."""
    box = Container(engine, f"echo-service-imagetest-{label}-{target}")
    box.remove()
    ports = (free_port(), free_port())
    with tempfile.TemporaryDirectory(prefix="echo-imagetest-") as scratch:
        mount = tmp_mount(target, engine, declared, Path(scratch))
        try:
            sh(engine, *run_args(engine, box.name, image, target, mount, ports), timeout=120)
            url = f"http://127.0.0.1:{ports[0]}"
            start = time.monotonic()
            while True:
                with contextlib.suppress(OSError):
                    if http_get(url + "/readyz", timeout=2)[0] == 200:
                        break
                if not box.state().get("Running"):
                    raise box.fail(f"exited {box.state().get('ExitCode')} before it was ready")
                if time.monotonic() - start > READY_WITHIN_SECONDS:
                    raise box.fail(f"not ready within {READY_WITHIN_SECONDS:.0f} s")
                time.sleep(0.3)
            ready = time.monotonic() - start

            smoke = sh(
                sys.executable, "-m", "infra.smoke", url, "--timeout", "30", cwd=REPO, check=False
            )
            if smoke.returncode != 0:
                raise box.fail(f"the smoke check failed:\n{smoke.stdout}{smoke.stderr}")
            healthcheck(box, image)
            status, body = http_get(f"http://127.0.0.1:{ports[1]}/metrics")
            if status != 200 or "http_requests_total" not in body:
                raise box.fail(f"the metrics port answered {status} without http_requests_total")
            probe = box.exec("python", "-c", PROBE)
            words = probe.stdout.split()
            if probe.returncode != 0 or len(words) != 3:
                raise box.fail(f"the /tmp and root filesystem probe failed: {probe.stderr}")
            if words[0] == "0":
                raise box.fail("runs as root")
            if words[2] != "True":
                raise box.fail("the root filesystem is writable")

            stop_start = time.monotonic()
            sh(engine, "kill", "--signal", "TERM", box.name)
            waited = sh(engine, "wait", box.name, timeout=STOP_WITHIN_SECONDS + 30)
            stopped = time.monotonic() - stop_start
            code = waited.stdout.strip().splitlines()[-1] if waited.stdout.strip() else "?"
            if code != "0":
                raise box.fail(f"SIGTERM: exit status {code}, not 0")
            if stopped > STOP_WITHIN_SECONDS:
                raise box.fail(f"SIGTERM: stopped after {stopped:.1f} s (> {STOP_WITHIN_SECONDS})")
        finally:
            box.remove()
    return (
        f"{label} as {target}: ready in {ready:.1f} s, smoke, healthcheck, metrics, uid {words[0]},"
        f" /tmp writable, root read-only, SIGTERM -> exit 0 in {stopped:.1f} s"
    )


def check_pins(engine: str, image: str, requirements: Path) -> None:
    done = sh(
        engine, "run", "--rm", "--network", "none", "--read-only", image, "python", "-c", INSTALLED
    )
    installed, left = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    if left:
        raise ImageTestError(f"{image}: the build left files in /run/secrets: {left}")
    loose = unpinned(installed, requirement_pins(requirements.read_text()))
    if loose:
        raise ImageTestError(f"{image}: packages not pinned in {requirements.name}: {loose}")


def iris_context(folder: Path) -> Path:
    """A build context: a copy of app/ with the iris model, its weights and its requirements."""
    context = folder / "app"
    shutil.copytree(APP, context, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(IRIS / "model.py", context / "model.py")
    with (context / "requirements.txt").open("a") as reqs:
        reqs.write("\n" + (IRIS / "requirements.txt").read_text())
    sh(sys.executable, str(IRIS / "train.py"), "--out", str(context / "model.joblib"), timeout=300)
    return context


def check_image(engine: str, context: Path, image: str, label: str, base: str | None, secrets):
    seconds = build(engine, context, image, base, secrets)
    size = sh(engine, "image", "inspect", "--format", "{{.Size}}", image).stdout.strip()
    print(f"image-test: built {image} in {seconds:.0f} s, {int(size) / 1e6:.0f} MB", flush=True)
    check_pins(engine, image, context / "requirements.txt")
    print(f"image-test: {label}: every package pip installed is pinned", flush=True)
    inspect = sh(engine, "image", "inspect", "--format", "{{json .Config.Volumes}}", image)
    declared = image_declares(json.loads(inspect.stdout or "null"))
    for target in TARGETS:
        print("image-test: " + check_target(engine, image, label, target, declared), flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("auto", "docker", "podman"), default="auto")
    parser.add_argument(
        "--no-iris", action="store_true", help="check the shipped app/ only, not the iris example"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    try:
        engine = args.engine
        if engine == "auto":
            engine = "docker" if docker_works() else "podman"
        base = None
        if engine == "podman":
            set_up_podman()
            ensure_standin()
            base = STANDIN
        print(f"image-test: engine {engine}, base {base or 'the Dockerfile default'}", flush=True)
        with pip_secrets() as secrets:
            check_image(engine, APP, IMAGE, "app", base, secrets)
            if not args.no_iris:
                with tempfile.TemporaryDirectory(prefix="echo-iris-") as d:
                    context = iris_context(Path(d))
                    check_image(engine, context, IRIS_IMAGE, "iris", base, secrets)
    except (ImageTestError, subprocess.TimeoutExpired) as e:
        print(f"image-test: FAILED: {e}", file=sys.stderr)
        return 1
    print(f"image-test: passed in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
