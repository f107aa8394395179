"""Issue 14: metrics, dashboards, alarms, scaling on requests and the log format."""

from __future__ import annotations

import re

from infra.settings.core import DEFAULTS, Observability, _check, _Problems, _Reader

# The container's log formats (the app's LOG_FORMAT): plain text lines, or one JSON object a line.
LOG_FORMATS = ("text", "json")
# What an email address must look like before SNS or Cloud Monitoring is asked to mail it: one @,
# no spaces, a dot in the domain. Deliberately loose; the provider's confirmation mail is the check.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# ALBRequestCountPerTarget target values AWS accepts are positive; above this a replica would be
# asked to serve more than 1,000 requests a second, which no model endpoint here does.
MAX_REQUESTS_PER_REPLICA = 60_000
# The app's own TIMEOUT when timeoutSeconds is 0 (app/server.py; on aws pinned to the same 30 s):
# the server stops a prediction there, so no response takes longer and a p99 alarm at or above
# it could never fire.
APP_TIMEOUT_SECONDS = 30
# The deployment alarms' keys (aws). Not priced: they change thresholds, not the alarms' count.
ALARM_KEYS = ("alarmLatencyMs", "alarmErrorPercent", "rollbackOnAlarm")


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
            "yourself (see docs/watching.md); the gcp stack scales on CPU",
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
    latency_ms = read.integer("alarmLatencyMs")
    error_percent = read.integer("alarmErrorPercent")
    rollback = read.boolean("rollbackOnAlarm")
    _check(
        problems,
        k("alarmErrorPercent"),
        error_percent,
        lambda v: 1 <= v <= 99,
        "must be a percentage of requests from 1 to 99 (the alarm fires above it)",
    )
    changed = [
        (name, value)
        for name, value in zip(ALARM_KEYS, (latency_ms, error_percent, rollback), strict=True)
        if value != DEFAULTS[name]
    ]
    for name, value in changed:
        if name == "rollbackOnAlarm" and cloud != "aws":
            problems.add(
                k(name),
                value,
                "is read on aws only: ECS rolls a deploy back on the deployment alarms (on gcp "
                "the thresholds set the alert policies, which roll nothing back)",
            )
        elif cloud == "local":
            problems.add(k(name), value, "is read on aws and gcp only (local has no alarms)")
        elif not monitoring:
            problems.add(k(name), value, "needs monitoring = true (the alarms are made by it)")
    return Observability(
        monitoring,
        alert_email,
        requests,
        metrics_port,
        log_format,
        alarm_latency_ms=latency_ms,
        alarm_error_percent=error_percent,
        rollback_on_alarm=rollback,
    )


def _alarm_latency_fits(
    problems: _Problems, key: str, observability: Observability, timeout_seconds: int, cloud: str
) -> None:
    """The p99 alarm's threshold must be below the request timeout, or it could never fire.

    Only where the threshold is read (aws and gcp, with monitoring): elsewhere no alarm uses it,
    and a stack with a short timeoutSeconds must not be refused over a key it never set.
    """
    if not observability.monitoring or cloud == "local":
        return
    timeout = timeout_seconds or APP_TIMEOUT_SECONDS
    latency = observability.alarm_latency_ms
    if not 1 <= latency < timeout * 1000:
        problems.add(
            key,
            latency,
            f"must be from 1 to {timeout * 1000 - 1} milliseconds: below the request timeout "
            f"({timeout} s, timeoutSeconds or the app's default), where the server stops a "
            "prediction, so no response takes longer and a higher threshold never fires",
        )
