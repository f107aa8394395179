"""The gcp target's workload: a namespace, a Deployment by digest, a LoadBalancer Service, a
HorizontalPodAutoscaler and a PodDisruptionBudget."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra.gcp.edge import NEG_PRE_STOP_SLEEP_SECONDS, gclb_timeouts
from infra.gcp.labels import dns_label, k8s_label_value
from infra.gcp.model import (
    FETCH_EPHEMERAL_STORAGE,
    MODEL_SERVICE_ACCOUNT,
    MODEL_VOLUME,
    ephemeral_storage,
    fetch_container,
    model_volume,
    service_account,
)
from infra.gcp.monitoring import pod_monitoring
from infra.observability import METRICS_PORT_NAME
from infra.settings import LIVENESS_PATH, MODEL_DIR, READINESS_PATH, Settings, container_env

SERVICE_PORT = 80  # the load balancer's port; the URL has no port in it
PORT_NAME = "http"
API_KEYS_ENV = "API_KEYS"  # the variable the app reads its keys from (comma-separated)
# A UID, not a name: kubelet can only check `runAsNonRoot` against a numeric user, and the image's
# USER may be a name. Any non-root UID works: the image's files are world-readable and the app
# writes only to /tmp.
RUN_AS_UID = 10001
# SIGTERM, then this long to finish requests in flight (the server stops within a few seconds).
TERMINATION_GRACE_SECONDS = 30
# Before SIGTERM, keep serving while the load balancer and kube-proxy stop sending new requests to
# a Pod that is going away (endpoint removal is asynchronous).
PRE_STOP_SLEEP_SECONDS = 5
# Behind the Ingress (`domain`) the load balancer reaches Pods through NEGs and takes longer to
# let one go: the preStop sleep waits for the detachment (infra/gcp/edge.py), and the grace
# period, which counts from the start of preStop, covers the sleep, the server's own graceful
# stop after SIGTERM (the app's GRACEFUL_TIMEOUT, 10 s) and a margin.
APP_GRACEFUL_TIMEOUT_SECONDS = 10
NEG_TERMINATION_GRACE_SECONDS = NEG_PRE_STOP_SLEEP_SECONDS + APP_GRACEFUL_TIMEOUT_SECONDS + 10
TMP_SIZE_LIMIT = "64Mi"
# `pulumi up` waits for the rollout this long; a new image that never gets ready fails the update
# (the old Pods keep serving: maxUnavailable is 0). Creation allows for Autopilot provisioning the
# first nodes.
DEPLOYMENT_TIMEOUTS = pulumi.CustomTimeouts(create="15m", update="10m")
# The Service is created with the namespace, in parallel with the Deployment, and pulumi-kubernetes
# waits until it selects a ready Pod as well as until the load balancer has an address
# (pulumi-kubernetes, provider/pkg/await/service.go, serviceInitAwaiter: "Service does not target
# any Pods"). Its default 10 minutes would run out before the Deployment's 15 on a first
# Autopilot `up` whose nodes are slow to come: the Service waits as long as the Deployment may,
# plus the minutes a load balancer takes once it has a Pod.
SERVICE_TIMEOUTS = pulumi.CustomTimeouts(create="20m", update="10m")
ZONE_TOPOLOGY_KEY = "topology.kubernetes.io/zone"  # a well-known node label
# The namespace admits only Pods meeting the "restricted" Pod Security Standard, which the
# Deployment does; a later change that weakens it is refused by the cluster, not shipped.
POD_SECURITY_LABELS = {"pod-security.kubernetes.io/enforce": "restricted"}
# The startup probe's period; with startupSeconds set its failure threshold covers the budget.
STARTUP_PROBE_PERIOD_SECONDS = 3
STARTUP_PROBE_FAILURES = 20  # 60 s, when startupSeconds is not set


def deployment_timeouts(startup_seconds: int) -> pulumi.CustomTimeouts:
    """How long `pulumi up` waits for the rollout: the defaults, plus the start-up budget."""
    if not startup_seconds:
        return DEPLOYMENT_TIMEOUTS
    extra = math.ceil(startup_seconds / 60)
    return pulumi.CustomTimeouts(create=f"{15 + extra}m", update=f"{10 + extra}m")


def workload(
    parent: pulumi.ComponentResource,
    name: str,
    k8s_provider: k8s.Provider,
    settings: Settings,
    image_ref: pulumi.Output[str],
    after: list[pulumi.Resource],
    service_annotations: dict[str, str] | None = None,
) -> tuple[pulumi.Output[str], k8s.core.v1.Service]:
    """The Kubernetes objects of the endpoint, in a namespace of their own.

    Args:
        after: What the Deployment waits for (the image, the nodes' pull access).
        service_annotations: With `domain`, the Service sits behind the Ingress's load
            balancer: a ClusterIP Service with these annotations (NEGs, BackendConfig).
            None: the default LoadBalancer Service.

    Returns:
        The namespace's name and the Service.
    """
    on_k8s = pulumi.ResourceOptions(parent=parent, provider=k8s_provider)
    selector = {
        "app.kubernetes.io/name": k8s_label_value(settings.project),
        "app.kubernetes.io/instance": k8s_label_value(settings.name),
    }
    labels = {
        **{key: k8s_label_value(value) for key, value in settings.labels.items()},
        **selector,
    }
    workload_name = settings.project  # one of each object in a namespace of its own
    namespace = k8s.core.v1.Namespace(
        f"{name}-ns",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=dns_label(settings.name), labels={**labels, **POD_SECURITY_LABELS}
        ),
        opts=on_k8s,
    )
    ns = namespace.metadata.name

    def meta(object_name: str = workload_name) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=ns, labels=labels)

    depends_on = list(after)
    if settings.model.enabled:
        # The Pods run as this account: the Deployment comes after it (Pods naming a missing
        # account are refused at admission until it exists) and, on destroy, goes before it.
        depends_on.append(service_account(parent, name, k8s_provider, ns, labels))
    api_keys_secret = None
    if settings.edge.api_keys is not None:
        # The keys as a Kubernetes Secret, auto-named (`api-keys-<random>`): pulumi-kubernetes
        # replaces a Secret whose data changes (Secrets are immutable to it unless the provider's
        # enableSecretMutable is on, which this program never sets), so new keys get a new name,
        # the Deployment's
        # reference changes with it, and the Pods roll over to the new keys (env is read at
        # start). The value is a secret Output: encrypted in the state, never in the Pod spec.
        api_keys_secret = k8s.core.v1.Secret(
            f"{name}-api-keys",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=ns, labels=labels),
            type="Opaque",
            string_data={API_KEYS_ENV: settings.edge.api_keys},
            opts=on_k8s,
        )
    spec = _Workload(
        workload_name,
        image_ref,
        labels,
        selector,
        settings,
        api_keys_secret.metadata.name if api_keys_secret is not None else None,
    )
    deployment = k8s.apps.v1.Deployment(
        f"{name}-deployment",
        metadata=meta(),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            # No `replicas`: the HorizontalPodAutoscaler owns the count. With it set, every
            # `pulumi up` that changes the Deployment would apply it and cut a scaled-out
            # service back to minReplicas in the middle of a rollout. Kubernetes starts the
            # Deployment with one Pod and the autoscaler raises it to minReplicas at once.
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            # Never fewer ready Pods than before: a new Pod must pass its readiness probe
            # before an old one goes, so a broken image leaves the old version serving.
            strategy=k8s.apps.v1.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                    max_unavailable=0, max_surge=1
                ),
            ),
            template=_pod_template(spec),
        ),
        opts=pulumi.ResourceOptions.merge(
            on_k8s,
            pulumi.ResourceOptions(
                depends_on=depends_on,
                custom_timeouts=deployment_timeouts(settings.server.startup_seconds),
            ),
        ),
    )
    # Pulumi waits until the load balancer has an address before this resolves.
    service_meta = meta()
    if service_annotations is not None:
        service_meta = k8s.meta.v1.ObjectMetaArgs(
            name=workload_name, namespace=ns, labels=labels, annotations=service_annotations
        )
    service = k8s.core.v1.Service(
        f"{name}-service",
        metadata=service_meta,
        spec=k8s.core.v1.ServiceSpecArgs(
            type="LoadBalancer" if service_annotations is None else "ClusterIP",
            selector=selector,
            ports=[
                k8s.core.v1.ServicePortArgs(
                    name=PORT_NAME, port=SERVICE_PORT, target_port=PORT_NAME, protocol="TCP"
                )
            ],
        ),
        opts=pulumi.ResourceOptions.merge(
            on_k8s, pulumi.ResourceOptions(custom_timeouts=SERVICE_TIMEOUTS)
        ),
    )
    k8s.autoscaling.v2.HorizontalPodAutoscaler(
        f"{name}-hpa",
        metadata=meta(),
        spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
            scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                api_version="apps/v1", kind="Deployment", name=deployment.metadata.name
            ),
            min_replicas=settings.min_replicas,
            max_replicas=settings.max_replicas,
            metrics=[
                k8s.autoscaling.v2.MetricSpecArgs(
                    type="Resource",
                    resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                        name="cpu",
                        target=k8s.autoscaling.v2.MetricTargetArgs(
                            type="Utilization",
                            average_utilization=settings.target_cpu_percent,
                        ),
                    ),
                )
            ],
        ),
        opts=on_k8s,
    )
    # At most one Pod evicted at a time by node upgrades and drains. maxUnavailable, not
    # minAvailable: with minReplicas 1 a "minAvailable: 1" budget would block every drain.
    # Pods that are not running may always be evicted, so a broken Pod never blocks one.
    k8s.policy.v1.PodDisruptionBudget(
        f"{name}-pdb",
        metadata=meta(),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            unhealthy_pod_eviction_policy="AlwaysAllow",
        ),
        opts=on_k8s,
    )
    if settings.observability.monitoring:
        pod_monitoring(parent, name, k8s_provider, ns, workload_name, labels, selector)
    return ns, service


def load_balancer_url(status: k8s.core.v1.outputs.ServiceStatus | None) -> str:
    """`http://<address>` of a LoadBalancer Service, from its status (an IP or a host name)."""
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    if not ingress:
        # Pulumi waits for the address before it resolves the Service's status; an empty status
        # means the program ran without a cluster (a preview), so there is no URL yet.
        return ""
    address = ingress[0].ip or ingress[0].hostname or ""
    return f"http://{address}" if address else ""


@dataclass(frozen=True)
class _Workload:
    """What the Kubernetes objects are built from."""

    name: str
    image: pulumi.Input[str]
    labels: dict[str, str]
    selector: dict[str, str]
    settings: Settings
    api_keys_secret: pulumi.Input[str] | None = None


def _container_env(settings: Settings) -> list[tuple[str, str]]:
    """`container_env`; behind the Ingress's load balancer (`domain`), also KEEPALIVE_TIMEOUT,
    which must outlast the load balancer's own keep-alive (infra/gcp/edge.py, gclb_timeouts)."""
    env = container_env(settings)
    if not settings.edge.domain:
        return env
    names = [n for n, _ in env]
    after = next((names.index(n) + 1 for n in ("TIMEOUT", "WEB_CONCURRENCY") if n in names), 1)
    keepalive = ("KEEPALIVE_TIMEOUT", str(gclb_timeouts(settings)[1]))
    return [*env[:after], keepalive, *env[after:]]


def _env(w: _Workload) -> list[k8s.core.v1.EnvVarArgs]:
    # PORT, the server's settings and the model's path when set (infra.settings.container_env,
    # the same on every target), then the API keys from their Secret.
    env = [k8s.core.v1.EnvVarArgs(name=n, value=v) for n, v in _container_env(w.settings)]
    if w.api_keys_secret is not None:
        env.append(
            k8s.core.v1.EnvVarArgs(
                name=API_KEYS_ENV,
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                        name=w.api_keys_secret, key=API_KEYS_ENV
                    )
                ),
            )
        )
    return env


def _pod_template(w: _Workload) -> k8s.core.v1.PodTemplateSpecArgs:
    s = w.settings
    # Requests are what Autopilot schedules and bills by. Limits equal requests: the Pod is in the
    # Guaranteed QoS class (never the first evicted), Autopilot would set the same limits itself,
    # and both modes behave alike; the autoscaler adds replicas long before CPU would be throttled.
    resources = {"cpu": f"{s.cpu * 1000 // 1024}m", "memory": f"{s.memory}Mi"}
    alive = k8s.core.v1.HTTPGetActionArgs(path=LIVENESS_PATH, port=PORT_NAME)
    ready = k8s.core.v1.HTTPGetActionArgs(path=READINESS_PATH, port=PORT_NAME)
    locked_down = k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )
    mounts = [k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")]
    # The only writable path: the root filesystem is read-only.
    volumes = [
        k8s.core.v1.VolumeArgs(
            name="tmp",
            empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=TMP_SIZE_LIMIT),
        )
    ]
    model = s.model
    init_containers = None
    if model.enabled:
        # The model's volume counts against the Pod's ephemeral storage (the larger of its app
        # containers' summed limits and any init container's; kubelet evicts a Pod that writes
        # more), so the app container asks for it, and Autopilot provisions (and bills) it.
        # The init container asks for the app's CPU and memory (a Pod's effective request is
        # the larger of the two, so the fetch adds nothing; limits equal requests keep the Pod
        # Guaranteed) but only a little ephemeral storage of its own: what it downloads is in
        # the volume, and Autopilot's 10 GiB cap then holds for the app's request alone.
        init_resources = {**resources, "ephemeral-storage": FETCH_EPHEMERAL_STORAGE}
        resources = {**resources, "ephemeral-storage": ephemeral_storage(model)}
        init_containers = [fetch_container(model, init_resources, locked_down)]
        mounts.append(
            k8s.core.v1.VolumeMountArgs(name=MODEL_VOLUME, mount_path=MODEL_DIR, read_only=True)
        )
        volumes.append(model_volume(model))
    startup_failures = (
        math.ceil(s.server.startup_seconds / STARTUP_PROBE_PERIOD_SECONDS)
        if s.server.startup_seconds
        else STARTUP_PROBE_FAILURES
    )
    behind_ingress = bool(s.edge.domain)
    return k8s.core.v1.PodTemplateSpecArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=w.labels),
        spec=k8s.core.v1.PodSpecArgs(
            # With a model to fetch, the Pod runs as the service account its bucket grants
            # read access to (infra/gcp/model.py); it still gets no API token.
            service_account_name=MODEL_SERVICE_ACCOUNT if model.enabled else None,
            init_containers=init_containers,
            # The endpoint never calls the Kubernetes API; no token in the Pod to steal.
            automount_service_account_token=False,
            termination_grace_period_seconds=(
                NEG_TERMINATION_GRACE_SECONDS if behind_ingress else TERMINATION_GRACE_SECONDS
            ),
            security_context=k8s.core.v1.PodSecurityContextArgs(
                run_as_non_root=True,
                run_as_user=RUN_AS_UID,
                run_as_group=RUN_AS_UID,
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            ),
            # Spread replicas over the region's zones so one zone's loss leaves the others
            # serving; "ScheduleAnyway" so a zone short of capacity delays nothing.
            topology_spread_constraints=[
                k8s.core.v1.TopologySpreadConstraintArgs(
                    max_skew=1,
                    topology_key=ZONE_TOPOLOGY_KEY,
                    when_unsatisfiable="ScheduleAnyway",
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=w.selector),
                )
            ],
            containers=[
                k8s.core.v1.ContainerArgs(
                    name=w.name,
                    image=w.image,
                    ports=[
                        k8s.core.v1.ContainerPortArgs(
                            name=PORT_NAME, container_port=s.container_port, protocol="TCP"
                        ),
                        # With monitoring, the metrics port, by name for the PodMonitoring. The
                        # LoadBalancer Service forwards only `http`, so it stays in the cluster.
                        *(
                            [
                                k8s.core.v1.ContainerPortArgs(
                                    name=METRICS_PORT_NAME,
                                    container_port=s.observability.metrics_port,
                                    protocol="TCP",
                                )
                            ]
                            if s.observability.monitoring
                            else []
                        ),
                    ],
                    env=_env(w),
                    resources=k8s.core.v1.ResourceRequirementsArgs(
                        requests=resources, limits=resources
                    ),
                    # Up to a minute (or startupSeconds) to start and load the model; until then
                    # the other probes wait, and a model that never loads gets its container
                    # restarted.
                    startup_probe=k8s.core.v1.ProbeArgs(
                        http_get=ready,
                        period_seconds=STARTUP_PROBE_PERIOD_SECONDS,
                        timeout_seconds=2,
                        failure_threshold=startup_failures,
                    ),
                    # Out of the load balancer after 3 failed checks (15 s), back after one.
                    readiness_probe=k8s.core.v1.ProbeArgs(
                        http_get=ready, period_seconds=5, timeout_seconds=2, failure_threshold=3
                    ),
                    # Restarted only when it stops answering for 30 s: a busy replica is slow,
                    # not dead.
                    liveness_probe=k8s.core.v1.ProbeArgs(
                        http_get=alive, period_seconds=10, timeout_seconds=3, failure_threshold=3
                    ),
                    lifecycle=k8s.core.v1.LifecycleArgs(
                        pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                            sleep=k8s.core.v1.SleepActionArgs(
                                seconds=(
                                    NEG_PRE_STOP_SLEEP_SECONDS
                                    if behind_ingress
                                    else PRE_STOP_SLEEP_SECONDS
                                )
                            )
                        )
                    ),
                    security_context=locked_down,
                    volume_mounts=mounts,
                )
            ],
            volumes=volumes,
        ),
    )
