"""What every target shares for watching the endpoint (issue 14): the container's metrics and log
settings, the app's metric names, and the alarm thresholds.

The app's side of the contract (app/, the lead's): with `METRICS_PORT` set, Prometheus metrics in
the text format on that port at `/metrics`, aggregated across workers; `LOG_FORMAT=json` makes one
JSON object a log line; with `CLOUDWATCH_EMF_NAMESPACE` set, each request's JSON access line also
carries CloudWatch embedded metric format (EMF) fields: the metric `ModelInferenceTime`
(Milliseconds) in that namespace, with the dimension `Service` set to `CLOUDWATCH_EMF_SERVICE`.
METRICS_PORT and LOG_FORMAT join the environment every target shares in
`infra.settings.container_env`. Nothing here is sent anywhere unless `monitoring` (or `logFormat`)
is set: without the keys a stack renders exactly as before.
"""

from __future__ import annotations

from infra.settings import Settings

# Where the app serves its Prometheus metrics (the port comes from `metricsPort`).
METRICS_PATH = "/metrics"
# The container port's name for the metrics (Kubernetes port names: at most 15 characters).
METRICS_PORT_NAME = "metrics"

# The app's metric names (Prometheus), as the lead's runtime exports them.
REQUESTS_TOTAL = "http_requests_total"  # counter; labels path, method, status
REQUEST_SECONDS = "http_request_duration_seconds"  # histogram; label path
INFERENCE_SECONDS = "model_inference_duration_seconds"  # histogram
IN_FLIGHT = "http_requests_in_flight"  # gauge
QUEUE_WAITING = "model_queue_waiting"  # gauge
QUEUE_REJECTED = "model_queue_rejected_total"  # counter
MODEL_LOAD_SECONDS = "model_load_duration_seconds"  # gauge
MODEL_INFO = "model_info"  # gauge = 1; label version
# The `path` label of the endpoint's own answers (app/metrics.py PATHS): what alarms on errors
# and latency count, so the probes' /healthz and /readyz answers never dilute them.
PREDICT_PATH = "/predict"

# CloudWatch embedded metric format (aws): the namespace, metric and dimension the app writes.
EMF_NAMESPACE = "echo-service"
EMF_METRIC = "ModelInferenceTime"
EMF_UNIT = "Milliseconds"
EMF_DIMENSION = "Service"

# Alarm thresholds, the same on every cloud. A 5xx share above 5% of requests over five minutes
# (the queue's 503s count: a replica refusing work is a replica short); a p99 above 2.5 s (well
# above an echo's milliseconds, under the ALB's 60 s idle timeout and the app's TIMEOUT; raise it
# here for a model that is slow by nature).
ERROR_RATE_PERCENT = 5.0
P99_LATENCY_SECONDS = 2.5
# Minutes a condition must hold before it alarms: long enough that one slow minute, a deploy's
# start or a scale-out's tasks still starting do not page anyone.
ALARM_MINUTES = 5
# Running below desired is normal for the minute or two a new task takes to start.
CAPACITY_ALARM_MINUTES = 10

# gcp: how often Managed Prometheus scrapes (once a minute: the alert windows are five minutes,
# and samples are what it bills), and the uptime check's period and regions (the US has three
# checkers, Europe and Asia-Pacific one each; the API wants at least three). The estimate prices
# these, so they live here rather than with the resources.
SCRAPE_INTERVAL = "60s"
UPTIME_PERIOD = "300s"
UPTIME_REGIONS = ("USA", "EUROPE", "ASIA_PACIFIC")


def emf_env(settings: Settings) -> list[tuple[str, str]]:
    """aws with `monitoring`: the EMF namespace and the `Service` dimension's value.

    The dimension is the per-stack name (`echo-service-<stack>`), not the ECS service's own
    auto-generated name: the service refers to the task definition, so the task definition
    cannot refer back to the service's name.
    """
    if not settings.observability.monitoring:
        return []
    return [("CLOUDWATCH_EMF_NAMESPACE", EMF_NAMESPACE), ("CLOUDWATCH_EMF_SERVICE", settings.name)]
