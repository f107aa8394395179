"""The gcp target's settings: GKE modes and release channels, Autopilot's Pod sizes, Standard
mode's nodes and boot disks, and the cluster's network (issue 11)."""

from __future__ import annotations

import re
from collections.abc import Callable

from infra.settings.core import _Problems

GKE_MODES = ("autopilot", "standard")
RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE", "EXTENDED")

# GKE Autopilot, general-purpose compute class. Source: GKE docs, "Resource requests in
# Autopilot": Pods get at least 250m vCPU and 512 MiB, at most 30 vCPU and 110 GiB, and between
# 1 and 6.5 GiB of memory per vCPU; requests outside are silently changed (and billed as changed),
# so the program refuses them instead.
AUTOPILOT_MIN_CPU = 250
AUTOPILOT_MAX_CPU = 30 * 1024
AUTOPILOT_MIN_MEMORY = 512
AUTOPILOT_MAX_MEMORY = 110 * 1024
AUTOPILOT_MIN_GIB_PER_VCPU = 1.0
AUTOPILOT_MAX_GIB_PER_VCPU = 6.5

# Standard mode node boot disks. GKE puts a regional node pool in three zones, and a surge
# upgrade adds one node per zone: at maxNodeCount (3 per zone by default) that is 12 boot disks.
# pd-balanced and pd-ssd count against the region's SSD_TOTAL_GB quota; Google publishes no one
# default for it (the Quotas page shows the project's own), and 500 GB is what new projects
# commonly show, some less. GKE's own default, 100 GB, is 1,200 GB at that size; 40 GB is 480 GB.
# Sources: GKE docs, "Configuring a custom boot disk" (pd-balanced default since 1.24, balanced
# and SSD disks use their own quota), "Regional clusters" (three zones), "Configure node
# upgrade strategies" (maxSurge 1 per zone); Compute Engine docs, "Allocation quotas".
NODE_DISK_TYPES = ("pd-balanced", "pd-ssd", "pd-standard", "hyperdisk-balanced")
NODE_DISK_MIN_GB = 10  # Compute Engine's smallest persistent disk
NODE_DISK_MAX_GB = 65536

# Environment variables the Google provider reads the project from, in its own order.
GCP_PROJECT_ENV = (
    "GOOGLE_PROJECT",
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
    "CLOUDSDK_CORE_PROJECT",
)


def _validate_autopilot(
    problems: _Problems, k: Callable[[str], str], cpu: int, memory: int
) -> None:
    if not AUTOPILOT_MIN_CPU <= cpu <= AUTOPILOT_MAX_CPU:
        problems.add(
            k("cpu"),
            cpu,
            f"GKE Autopilot needs {AUTOPILOT_MIN_CPU} to {AUTOPILOT_MAX_CPU} CPU units per Pod "
            "(1024 = 1 vCPU)",
        )
        return
    if not AUTOPILOT_MIN_MEMORY <= memory <= AUTOPILOT_MAX_MEMORY:
        problems.add(
            k("memory"),
            memory,
            f"GKE Autopilot needs {AUTOPILOT_MIN_MEMORY} to {AUTOPILOT_MAX_MEMORY} MiB per Pod",
        )
        return
    gib_per_vcpu = (memory / 1024) / (cpu / 1024)
    if not AUTOPILOT_MIN_GIB_PER_VCPU <= gib_per_vcpu <= AUTOPILOT_MAX_GIB_PER_VCPU:
        low = int(cpu * AUTOPILOT_MIN_GIB_PER_VCPU)
        high = int(cpu * AUTOPILOT_MAX_GIB_PER_VCPU)
        problems.add(
            k("memory"),
            memory,
            f"GKE Autopilot allows 1 to 6.5 GiB per vCPU; with cpu {cpu} that is "
            f"{max(low, AUTOPILOT_MIN_MEMORY)} to {high} MiB",
        )


# A network or subnetwork name (RFC 1035, as Compute Engine names resources), or a self link /
# resource path (`projects/P/global/networks/N`, `projects/P/regions/R/subnetworks/S`, e.g. a
# Shared VPC host project's).
_GCP_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_GCP_PATH = re.compile(
    r"^(https://www\.googleapis\.com/compute/v1/)?projects/[^/]+/"
    r"(global/networks|regions/[^/]+/subnetworks)/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
)


def _validate_gcp_network(
    problems: _Problems, k: Callable[[str], str], network: str, subnetwork: str
) -> None:
    paths = {"network": "global/networks", "subnetwork": "regions/REGION/subnetworks"}
    for key, value in (("network", network), ("subnetwork", subnetwork)):
        if value and not (_GCP_NAME.match(value) or _GCP_PATH.match(value)):
            problems.add(
                k(key),
                value,
                f"must be a {key} name (lowercase letters, digits, hyphens), its path "
                f"projects/PROJECT/{paths[key]}/NAME, or empty",
            )
    if subnetwork and not network:
        problems.add(
            k("network"),
            network,
            "must be set when subnetwork is set (GKE would otherwise look for the subnetwork "
            "in the default network)",
        )
