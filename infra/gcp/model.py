"""The gcp target's model fetch: an init container that downloads `modelUri` from Cloud Storage
into an emptyDir before the app starts, as a Kubernetes service account of the stack's namespace
that may read exactly that object.

Identity. The Pod runs as its own Kubernetes service account; the init container asks the GKE
metadata server (Workload Identity: Autopilot always, Standard through the node pool's
GKE_METADATA mode) for that account's federated access token, and calls the Cloud Storage JSON
API with it. No Google service account and no key: the bucket grants `roles/storage.objectViewer`
directly to the principal
`principal://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/PROJECT.svc.id.goog/subject/ns/NAMESPACE/sa/KSA`,
with an IAM condition that limits it to the one object. Source: GKE docs, "Authenticate to Google
Cloud APIs from GKE workloads" (Workload Identity Federation for GKE, principal identifiers), and
Cloud Storage docs, "Use IAM Conditions on buckets" (conditions need uniform bucket-level access).
The nodes' own service account gets nothing.

How a bad fetch stops the rollout: the init container exits 1 with a line saying why; the Pod
never starts its app container, never gets ready, and the Deployment's rolling update
(maxUnavailable 0) keeps the old Pods serving until `pulumi up` gives up waiting.
"""

from __future__ import annotations

import shlex
from urllib.parse import quote

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from infra.gcp.labels import dns_label
from infra.settings import EPHEMERAL_HEADROOM_GIB, MODEL_DIR, ModelSettings, Settings

# A small pinned image with curl, sh and busybox's sha256sum (about 10 MB, against several
# hundred for google-cloud-cli): it only makes two HTTPS requests. Runs as any non-root UID.
# Pulled by digest, like the app's image: a tag can be moved, and then every new Pod would run
# whatever it points at with the Pod's access to the model. The tag stays for the reader; the
# kubelet pulls the digest. (The registry was not reachable where this was written: the digest
# is the one public manifests and Dockerfiles pin for this tag, nine of them alike.)
FETCH_IMAGE = (
    "curlimages/curl:8.11.1@sha256:c1fe1679c34d9784c1b0d1e5f62ac0a79fca01fb6377cdd33e90473c6f9f9a69"
)
FETCH_CONTAINER_NAME = "model-fetch"
# The init container's own ephemeral storage (logs; curl writes nothing else outside the volume).
FETCH_EPHEMERAL_STORAGE = "64Mi"
MODEL_VOLUME = "model"
# The Kubernetes service account the Pods run as when they fetch a model.
MODEL_SERVICE_ACCOUNT = "model-reader"
OBJECT_VIEWER_ROLE = "roles/storage.objectViewer"
METADATA_TOKEN_URL = (
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
)
STORAGE_API = "https://storage.googleapis.com/storage/v1"


def namespace_name(settings: Settings) -> str:
    """The stack's namespace (the workload's, named once per stack)."""
    return dns_label(settings.name)


def workload_principal(project_number: str, project: str, namespace: str, account: str) -> str:
    """The IAM principal of a Kubernetes service account under Workload Identity Federation."""
    return (
        f"principal://iam.googleapis.com/projects/{project_number}/locations/global/"
        f"workloadIdentityPools/{project}.svc.id.goog/subject/ns/{namespace}/sa/{account}"
    )


def object_condition(model: ModelSettings) -> str:
    """The CEL expression that limits a bucket binding to the model's object."""
    return f'resource.name == "projects/_/buckets/{model.bucket}/objects/{model.key}"'


def model_read_access(
    parent: pulumi.ComponentResource,
    name: str,
    provider: gcp.Provider,
    settings: Settings,
) -> gcp.storage.BucketIAMMember:
    """Read access to the model's object for the Pods' Kubernetes service account, only."""
    g, model = settings.gcp, settings.model
    on_gcp = pulumi.ResourceOptions(parent=parent, provider=provider)
    # The principal names the project by number, which only a lookup knows.
    project = gcp.organizations.get_project_output(
        project_id=g.project, opts=pulumi.InvokeOutputOptions(parent=parent, provider=provider)
    )
    member = project.number.apply(
        lambda number: workload_principal(
            number, g.project, namespace_name(settings), MODEL_SERVICE_ACCOUNT
        )
    )
    # Non-authoritative: one binding added to the bucket's policy, removed on destroy; the
    # bucket and its other bindings stay the user's.
    return gcp.storage.BucketIAMMember(
        f"{name}-model-read",
        bucket=model.bucket,
        role=OBJECT_VIEWER_ROLE,
        member=member,
        condition=gcp.storage.BucketIAMMemberConditionArgs(
            title=f"{settings.name} model object",
            description=f"Only {model.uri}, for the Pods of {settings.name}",
            expression=object_condition(model),
        ),
        opts=on_gcp,
    )


def service_account(
    parent: pulumi.ComponentResource,
    name: str,
    k8s_provider: k8s.Provider,
    namespace: pulumi.Input[str],
    labels: dict[str, str],
) -> k8s.core.v1.ServiceAccount:
    """The Pods' Kubernetes service account: an identity for Workload Identity, no API token."""
    return k8s.core.v1.ServiceAccount(
        f"{name}-model-reader",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=MODEL_SERVICE_ACCOUNT, namespace=namespace, labels=labels
        ),
        # The metadata server knows the Pod by its address; nothing in it needs a token for
        # the Kubernetes API.
        automount_service_account_token=False,
        opts=pulumi.ResourceOptions(parent=parent, provider=k8s_provider),
    )


def fetch_script(model: ModelSettings) -> str:
    """The shell script the init container runs: token, download, check; why, when it fails."""
    source = model.uri
    target = model.container_path
    dst = shlex.quote(target)
    url = f"{STORAGE_API}/b/{quote(model.bucket, safe='')}/o/{quote(model.key, safe='')}?alt=media"
    tag = f"{FETCH_CONTAINER_NAME}:"

    def fail(message: str, *dynamic: str) -> str:
        return "  echo " + " ".join([shlex.quote(f"{tag} FAILED: {message}"), *dynamic]) + " >&2"

    lines = [
        "set -u",
        f"echo {shlex.quote(f'{tag} downloading {source} to {target}')}",
        # The GKE metadata server answers for the Pod's Kubernetes service account; it may
        # need a moment after the Pod starts.
        "token=$(curl -sSf --retry 5 --retry-connrefused --retry-delay 1 "
        f"-H 'Metadata-Flavor: Google' {METADATA_TOKEN_URL} "
        '| sed -n \'s/.*"access_token" *: *"\\([^"]*\\)".*/\\1/p\')',
        'if [ -z "$token" ]; then',
        fail(
            "no access token from the GKE metadata server (is Workload Identity on?); "
            "the app will not start"
        ),
        "  exit 1",
        "fi",
        "status=$(curl -sS --retry 3 -o " + dst + " -w '%{http_code}' "
        '-H "Authorization: Bearer $token" ' + shlex.quote(url) + ")",
        'if [ "$status" != 200 ]; then',
        "  rm -f " + dst,
        fail(
            f"could not download {source}: HTTP",
            '"$status"',
            shlex.quote(
                "(404: no such object; 403: this Pod's service account may not read it); "
                "the app will not start"
            ),
        ),
        "  exit 1",
        "fi",
    ]
    if model.sha256:
        lines += [
            f"actual=$(sha256sum {dst} | cut -d ' ' -f 1)",
            f'if [ "$actual" != {shlex.quote(model.sha256)} ]; then',
            fail(
                f"sha256 of {source} is",
                '"$actual",',
                shlex.quote(f"not modelSha256 {model.sha256}; the app will not start"),
            ),
            "  exit 1",
            "fi",
            f"echo {shlex.quote(f'{tag} sha256 verified')}",
        ]
    lines.append(f"echo {shlex.quote(f'{tag} done')}")
    return "\n".join(lines)


def ephemeral_storage(model: ModelSettings) -> str:
    """A container's ephemeral-storage request: the model's room plus /tmp, logs and layer."""
    return f"{model.storage_gib + EPHEMERAL_HEADROOM_GIB}Gi"


def model_volume(model: ModelSettings) -> k8s.core.v1.VolumeArgs:
    """The emptyDir the init container fills and the app reads; no larger than asked for."""
    return k8s.core.v1.VolumeArgs(
        name=MODEL_VOLUME,
        empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=f"{model.storage_gib}Gi"),
    )


def fetch_container(
    model: ModelSettings,
    resources: dict[str, str],
    security_context: k8s.core.v1.SecurityContextArgs,
) -> k8s.core.v1.ContainerArgs:
    """The init container: the app container's resources and lock-down, the model volume rw."""
    return k8s.core.v1.ContainerArgs(
        name=FETCH_CONTAINER_NAME,
        image=FETCH_IMAGE,
        command=["sh", "-c", fetch_script(model)],
        resources=k8s.core.v1.ResourceRequirementsArgs(requests=resources, limits=resources),
        security_context=security_context,
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name=MODEL_VOLUME, mount_path=MODEL_DIR)],
    )
