"""Names and label values for Google Cloud and Kubernetes, derived from settings."""

from __future__ import annotations

import re

_GCP_LABEL_BAD = re.compile(r"[^a-z0-9_-]")
_K8S_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.-]")
_DNS_BAD = re.compile(r"[^a-z0-9-]")


def gcp_label_value(value: str) -> str:
    """A Google Cloud label value: at most 63 lowercase letters, digits, `_` or `-`."""
    return _GCP_LABEL_BAD.sub("-", value.lower())[:63]


def k8s_label_value(value: str) -> str:
    """A Kubernetes label value: at most 63 of `[A-Za-z0-9_.-]`, alphanumeric at both ends."""
    return _K8S_LABEL_BAD.sub("-", value)[:63].strip("_.-")


def dns_label(value: str, max_length: int = 63) -> str:
    """A DNS-1123 label (namespace name, Artifact Registry repository id): `[a-z0-9-]`, starting
    with a letter and ending with a letter or digit."""
    name = _DNS_BAD.sub("-", value.lower())[:max_length].strip("-")
    return name if name[:1].isalpha() else f"x{name}"[:max_length].rstrip("-")
