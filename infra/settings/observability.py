"""Issue 14: metrics, dashboards, alarms, scaling on requests and the log format."""

from __future__ import annotations

import re

from infra.settings.core import Observability, _check, _Problems, _Reader

# The container's log formats (the app's LOG_FORMAT): plain text lines, or one JSON object a line.
LOG_FORMATS = ("text", "json")
# What an email address must look like before SNS or Cloud Monitoring is asked to mail it: one @,
# no spaces, a dot in the domain. Deliberately loose; the provider's confirmation mail is the check.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# ALBRequestCountPerTarget target values AWS accepts are positive; above this a replica would be
# asked to serve more than 1,000 requests a second, which no model endpoint here does.
MAX_REQUESTS_PER_REPLICA = 60_000


def _observability(
    read: _Reader, problems: _Problems, cloud: str, container_port: int, local_port: int
) -> Observability:
    """Reads and checks issue 14's keys (monitoring, alertEmail, requestsPerReplica, ...)."""
    k = read.key
    monitoring = read.boolean("monitoring")
    alert_email = read.string("alertEmail")
    requests = read.integer("requestsPerReplica")
    metrics_port = read.integer("metricsPort")
    log_format = read.string("logFormat")
    if alert_email and not EMAIL_PATTERN.match(alert_email):
        problems.add(k("alertEmail"), alert_email, "must be an email address, e.g. ops@example.com")
    elif alert_email and not monitoring:
        problems.add(
            k("alertEmail"),
            alert_email,
            "needs monitoring = true (the alarms it would be sent are made by monitoring)",
        )
    _check(
        problems,
        k("requestsPerReplica"),
        requests,
        lambda v: 0 <= v <= MAX_REQUESTS_PER_REPLICA,
        f"must be 0 (off) or requests a minute per replica, from 1 to {MAX_REQUESTS_PER_REPLICA}",
    )
    if requests and cloud == "gcp":
        problems.add(
            k("requestsPerReplica"),
            requests,
            "is aws only: GKE scales on requests only through a metrics adapter you install "
            "yourself (see README, Watching it); the gcp stack scales on CPU",
        )
    _check(
        problems,
        k("metricsPort"),
        metrics_port,
        lambda v: 1024 <= v <= 65535 and v != container_port,
        f"must be a port from 1024 to 65535 other than containerPort ({container_port})",
    )
    if cloud == "local" and monitoring and metrics_port == local_port:
        problems.add(
            k("metricsPort"),
            metrics_port,
            f"must differ from localPort ({local_port}): both are published on localhost",
        )
    _check(
        problems,
        k("logFormat"),
        log_format,
        lambda v: v in LOG_FORMATS,
        "must be text or json",
    )
    return Observability(monitoring, alert_email, requests, metrics_port, log_format)
