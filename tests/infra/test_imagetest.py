"""`make image-test`'s pure parts: how each target's /tmp is mounted, the run's restrictions, the
mirror from apt's sources, podman's configuration, pip's build configuration, the pin check.
(The image itself is built and run by `make image-test`, which `.ci/run` runs.)"""

from __future__ import annotations

import resource
import stat
import tomllib

import pytest

from infra import imagetest
from infra.gcp.workload import RUN_AS_UID
from infra.local import TMPFS

DEB822 = """\
Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
# a comment inside the stanza
URIs: http://mirror.example/debian http://second.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
"""


def test_the_mirror_is_the_first_enabled_deb_source_of_bookworm_main():
    assert imagetest.debian_mirror({"/x/debian.sources": DEB822}) == "http://mirror.example/debian"


def test_the_mirror_from_one_line_sources_with_options():
    text = (
        "# deb http://commented.example/debian bookworm main\n"
        "deb http://mirror.example/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n"
    )
    assert imagetest.debian_mirror({"/etc/apt/sources.list": text}) == (
        "http://mirror.example/debian"
    )


def test_no_bookworm_source_says_so():
    with pytest.raises(imagetest.ImageTestError, match="no apt source serves Debian bookworm main"):
        imagetest.debian_mirror({"/x.list": "deb http://m.example/debian trixie main\n"})


def test_containers_conf_picks_runc_and_ulimits_within_the_hard_limit():
    conf = tomllib.loads(imagetest.containers_conf(20000))
    assert conf["engine"]["runtime"] == "runc"
    assert conf["containers"]["default_ulimits"] == ["nofile=20000:20000", "nproc=32768:32768"]
    unlimited = tomllib.loads(imagetest.containers_conf(resource.RLIM_INFINITY))
    assert unlimited["containers"]["default_ulimits"][0] == "nofile=1048576:1048576"


# `pip config list` as it prints on a machine behind a TLS-re-signing proxy with local wheels.
PIP_CONFIG_LIST = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.default-timeout='180'
:env:.find-links='/opt/wheels'
global.cert='/somewhere/else.pem'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple https://mirror.example/simple'
global.find-links='/opt/wheels'
global.index-url='https://pypi.example/simple'
"""


def test_pip_settings_rank_the_environment_over_the_files():
    settings = imagetest.parse_pip_config_list(PIP_CONFIG_LIST)
    assert settings["cert"] == "/etc/ssl/certs/ca-certificates.crt"
    assert settings["default-timeout"] == "180"
    assert settings["constraint"] == "/etc/xdg/pip/constraints.txt"


def test_the_builds_pip_configuration_keeps_the_network_options_without_host_paths():
    conf = imagetest.pip_build_config(imagetest.parse_pip_config_list(PIP_CONFIG_LIST))
    assert conf == (
        "[global]\n"
        "index-url = https://pypi.example/simple\n"
        "extra-index-url = https://mirror.example/simple\n"
        "timeout = 180\n"
    )
    for host_path in ("/opt/wheels", "file://", "constraints.txt", "cert"):
        assert host_path not in conf


def test_an_empty_pip_configuration_is_an_empty_global_section():
    assert imagetest.pip_build_config({}) == "[global]\n"


def test_every_package_pip_installed_must_be_pinned_to_its_version():
    pins = imagetest.requirement_pins(
        "granian==2.8.7  # the server\n# a comment\ntyping_extensions==4.16.0\nloose>=1\n"
    )
    assert pins == {"granian": "2.8.7", "typing-extensions": "4.16.0"}
    installed = {
        "granian": "2.8.7",
        "typing-extensions": "4.16.0",
        "click": "8.5.1",
        "pip": "25.0",  # the base image's own
        "Loose": "2.0",
    }
    assert imagetest.unpinned(installed, pins) == [
        "Loose 2.0 (pinned: no)",
        "click 8.5.1 (pinned: no)",
    ]
    assert imagetest.unpinned({"granian": "2.8.8"}, pins) == ["granian 2.8.8 (pinned: 2.8.7)"]


def test_aws_with_the_images_volume_gets_the_engines_anonymous_volume(tmp_path):
    assert imagetest.image_declares({"/tmp": {}})
    assert imagetest.tmp_mount("aws", "podman", True, tmp_path) == []


def test_aws_without_the_images_volume_gets_fargates_empty_root_0755_directory(tmp_path):
    """What Fargate mounts when the image does not declare /tmp a VOLUME: the case item 3 of
    issue 17 is about, where uid 10001 cannot write."""
    assert not imagetest.image_declares(None)
    assert not imagetest.image_declares({"/data": {}})
    args = imagetest.tmp_mount("aws", "podman", False, tmp_path)
    assert args == ["--mount", f"type=bind,source={tmp_path / 'aws-tmp'},destination=/tmp"]
    folder = (tmp_path / "aws-tmp").stat()
    assert stat.S_IMODE(folder.st_mode) == 0o755
    assert not any((tmp_path / "aws-tmp").iterdir())


def test_gcp_gets_an_empty_0777_directory_as_kubelet_makes_an_emptydir(tmp_path):
    args = imagetest.tmp_mount("gcp", "docker", True, tmp_path)
    assert args == ["--mount", f"type=bind,source={tmp_path / 'gcp-tmp'},destination=/tmp"]
    assert stat.S_IMODE((tmp_path / "gcp-tmp").stat().st_mode) == 0o777


def test_local_gets_the_tmpfs_the_local_stack_mounts(tmp_path):
    ((path, opts),) = TMPFS.items()
    assert imagetest.tmp_mount("local", "docker", True, tmp_path) == ["--tmpfs", f"{path}:{opts}"]
    # podman copies the image's files into a tmpfs unless told not to; Docker never does.
    assert imagetest.tmp_mount("local", "podman", True, tmp_path) == [
        "--tmpfs",
        f"{path}:{opts},notmpcopyup",
    ]


def test_an_unknown_target_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown target 'azure'"):
        imagetest.tmp_mount("azure", "docker", True, tmp_path)


@pytest.mark.parametrize("engine", ["podman", "docker"])
@pytest.mark.parametrize("target", imagetest.TARGETS)
def test_every_run_is_read_only_without_capabilities_with_metrics_on_loopback(engine, target):
    args = imagetest.run_args(engine, "box", "img:tag", target, ["--tmpfs", "/tmp"], (1234, 5678))
    assert args[:4] == ["run", "--detach", "--name", "box"]
    assert args[-3:] == ["--tmpfs", "/tmp", "img:tag"]
    for flag in ("--read-only", "--cap-drop=ALL"):
        assert flag in args
    assert args[args.index("--security-opt") + 1] == "no-new-privileges"
    assert args[args.index("--env") + 1] == f"METRICS_PORT={imagetest.METRICS_PORT}"
    publishes = [args[i + 1] for i, a in enumerate(args) if a == "--publish"]
    assert publishes == ["127.0.0.1:1234:8080", f"127.0.0.1:5678:{imagetest.METRICS_PORT}"]
    # podman would otherwise mount a tmpfs of its own on /tmp, hiding the target's mount.
    assert ("--read-only-tmpfs=false" in args) == (engine == "podman")
    # gcp's Pod sets runAsUser/runAsGroup; the other targets run the image's USER.
    user = args[args.index("--user") + 1] if "--user" in args else None
    assert user == (f"{RUN_AS_UID}:{RUN_AS_UID}" if target == "gcp" else None)
