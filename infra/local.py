"""The local target: the endpoint's image built and run on this machine's Docker engine.

No registry and no cloud account: the image is built for the host's own platform (an ARM laptop
never runs it under emulation), kept in the local image store, and run as one container published
on localhost. `pulumi up` returns only when the container reports healthy (its /readyz answers:
the model has loaded).

How a code change rolls out: `docker.Image` hashes the build context (honouring
`app/.dockerignore`) on every run and rebuilds when it changed; for a local-only image its
`repo_digest` output is the new image's ID (`sha256:...`). The container runs that ID, never the
moving tag, so a new ID replaces the container. A tag would not: the container's input would stay
the same string while the tag moved underneath it.

How `pulumi destroy` leaves nothing: `docker.Image` never deletes what it built, so a
`docker.RemoteImage` holds the built ID with `keep_locally=False` and removes it on destroy, after
the container (which depends on it) is gone. On a rebuild the old `RemoteImage` is replaced, which
removes the previous build once the new container runs, so images do not pile up.
"""

from __future__ import annotations

import re

import pulumi
import pulumi_docker as docker

from infra.image import APP_CONTEXT, APP_DOCKERFILE
from infra.observability import METRICS_PATH
from infra.settings import Settings, container_env

# Publish on the loopback interface only: a laptop's endpoint should not be reachable from the
# café's Wi-Fi. The url says `localhost`, which resolves to this address.
LOCAL_BIND_IP = "127.0.0.1"
RUN_AS_USER = "10001:10001"  # app/Dockerfile's USER (uid:gid)

# The root filesystem is read-only, as it should be on the clouds; /tmp is the one writable path,
# for temporary files a model library may write (the server itself writes none). noexec/nosuid:
# nothing written there is meant to run.
TMPFS = {"/tmp": "rw,noexec,nosuid,size=64m"}

# Docker health check timings. Whole seconds under a minute on purpose: the provider reads them
# back as Go durations ("1m30s" for 90s) and any other spelling shows a change after a refresh.
# start_interval (Docker 25+) probes every second while the app starts, so `pulumi up` returns
# about a second after the server listens; older engines wait one `interval` instead.
HEALTHCHECK_INTERVAL = "10s"
HEALTHCHECK_TIMEOUT = "3s"
HEALTHCHECK_RETRIES = 3
HEALTHCHECK_START_PERIOD = "30s"
HEALTHCHECK_START_INTERVAL = "1s"
# How long `pulumi up` waits for the new container to be healthy before failing the update.
WAIT_TIMEOUT_SECONDS = 60
# With startupSeconds set, the start period is the budget and `pulumi up` waits this much longer
# (the same margin as the defaults: 60 s of waiting for a 30 s start period).
WAIT_MARGIN_SECONDS = 30
# SIGTERM first on delete and replace, like ECS and Kubernetes do, so in-flight requests finish
# (the app's GRACEFUL_TIMEOUT is 10 s).
DESTROY_GRACE_SECONDS = 15

# The image's own probe (python slim has no curl): GET /readyz on $HOST:$PORT, exit 1 unless it
# answers 200. The container sets the timings, not the image: its 30 s interval would make
# `pulumi up` wait half a minute for the first check on engines without start_interval.
HEALTHCHECK_COMMAND = ["CMD", "python", "-m", "app.healthcheck"]


def go_duration(seconds: int) -> str:
    """Seconds as Go prints a duration ("30s", "1m30s", "1h0m0s"), the form the Docker provider
    reads health check timings back in, so a refresh shows no change."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def docker_name(name: str) -> str:
    """`name` as a valid Docker image repository and container name.

    Docker repositories are lower case `[a-z0-9]` runs joined by separators, while Pulumi stack
    names may hold upper case, dots and underscores: `echo-service-Dev_Box` becomes
    `echo-service-dev-box`.
    """
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _envs(settings: Settings) -> list[pulumi.Input[str]]:
    """The container's environment: PORT, the server's settings and the model's path when set
    (infra.settings.container_env, the same on every target), and API_KEYS when `apiKeys` is set.

    Docker keeps a container's environment in its own configuration (`docker inspect` shows
    it to anyone who may use the engine) and the provider keeps it in the stack's state; there
    the keys stay encrypted, as the value is a secret Output and makes `envs` a secret.
    """
    envs: list[pulumi.Input[str]] = [f"{n}={v}" for n, v in container_env(settings)]
    if settings.edge.api_keys is not None:
        envs.append(pulumi.Output.concat("API_KEYS=", settings.edge.api_keys))
    return envs


class LocalService(pulumi.ComponentResource):
    """The endpoint as one container on the local Docker engine, published on localhost.

    Attributes:
        image: The image build (tagged `<project>-<stack>:latest`, never pushed).
        local_image: The built image by ID; removes it from the engine on destroy.
        container: The running container, named `<project>-<stack>`.
        url: `http://localhost:<localPort>`.
        exports: The stack outputs: url, image, imageId, container.
    """

    url: pulumi.Output[str]

    def __init__(
        self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("echo-service:local:LocalService", name, None, opts)
        local_name = docker_name(settings.name)

        # The default Docker provider: it reads DOCKER_HOST (or `docker:host` config), so
        # Docker Desktop, Colima and remote engines work without changes here.
        self.image = docker.Image(
            f"{name}-image",
            image_name=f"{local_name}:latest",
            build=docker.DockerBuildArgs(
                context=APP_CONTEXT,
                dockerfile=APP_DOCKERFILE,
                platform=settings.platform,
            ),
            skip_push=True,
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.local_image = docker.RemoteImage(
            f"{name}-local-image",
            name=self.image.repo_digest,
            keep_locally=False,
            # Replace (not update in place) on a new build, so the old build is removed.
            triggers={"imageId": self.image.repo_digest},
            opts=pulumi.ResourceOptions(parent=self),
        )

        startup = settings.server.startup_seconds
        model = settings.model
        # The model's file, read-only at the path MODEL_PATH names (settings checked that it
        # exists). A file mount pins the file as it was: after replacing the file, set
        # modelSha256 to its new digest (or `pulumi up --replace` the container).
        mounts = (
            [
                docker.ContainerMountArgs(
                    type="bind",
                    source=model.local_path,
                    target=model.container_path,
                    read_only=True,
                )
            ]
            if model.enabled
            else None
        )
        self.container = docker.Container(
            f"{name}-container",
            name=local_name,
            image=self.local_image.image_id,
            envs=_envs(settings),
            mounts=mounts,
            ports=[
                docker.ContainerPortArgs(
                    internal=settings.container_port,
                    external=settings.local_port,
                    ip=LOCAL_BIND_IP,
                ),
                # With monitoring, the metrics port too, on loopback only and under its own
                # number: `curl localhost:<metricsPort>/metrics`.
                *(
                    [
                        docker.ContainerPortArgs(
                            internal=o.metrics_port, external=o.metrics_port, ip=LOCAL_BIND_IP
                        )
                    ]
                    if (o := settings.observability).monitoring
                    else []
                ),
            ],
            restart="unless-stopped",
            must_run=True,
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=HEALTHCHECK_COMMAND,
                interval=HEALTHCHECK_INTERVAL,
                timeout=HEALTHCHECK_TIMEOUT,
                retries=HEALTHCHECK_RETRIES,
                start_period=go_duration(startup) if startup else HEALTHCHECK_START_PERIOD,
                start_interval=HEALTHCHECK_START_INTERVAL,
            ),
            wait=True,
            wait_timeout=startup + WAIT_MARGIN_SECONDS if startup else WAIT_TIMEOUT_SECONDS,
            destroy_grace_seconds=DESTROY_GRACE_SECONDS,
            read_only=True,
            # The image's own USER, said again, so the container's settings show (and the policy
            # pack checks) that it never runs as root.
            user=RUN_AS_USER,
            tmpfs=TMPFS,
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
            security_opts=["no-new-privileges:true"],
            # One cloud replica's size: the same memory ceiling (an out-of-memory model fails
            # here first) and the same CPU limit, from which the app sizes its worker count.
            memory=settings.memory,
            cpus=f"{settings.cpu / 1024:g}",
            labels=[
                docker.ContainerLabelArgs(label=key, value=value)
                for key, value in sorted(settings.labels.items())
            ],
            # The host port and the container name are fixed, so the old container must go
            # before its replacement can start.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

        self.url = pulumi.Output.from_input(f"http://localhost:{settings.local_port}")
        self.exports: dict[str, pulumi.Output] = {
            "url": self.url,
            "image": self.image.image_name,
            "imageId": self.local_image.image_id,
            "container": self.container.name,
        }
        if settings.observability.monitoring:
            self.exports["metricsUrl"] = pulumi.Output.from_input(
                f"http://localhost:{settings.observability.metrics_port}{METRICS_PATH}"
            )
        self.register_outputs(self.exports)
