"""What `monitoring` and `requestsPerReplica` add to the estimate, worked by hand from the price
file's figures (CloudWatch: $0.10 an alarm metric, $3 a dashboard, $0.30 a custom metric, $0.50 a
GB of logs; Google: $0.06 a million Prometheus samples, $1.50 an alert condition, $0.35 a million
alert series, $0.30 a thousand uptime checks; a 730-hour month)."""

from __future__ import annotations

import pytest

from infra import estimate as est

HOURS = 730
MINUTES = HOURS * 60  # 43,800 one-minute periods a month


def priced(stack: str, overrides: dict | None = None, traffic: est.Traffic | None = None):
    return est.estimate(est.load_stack_settings(stack, overrides, env={}), traffic=traffic)


def added(stack: str, overrides: dict, traffic: est.Traffic | None = None) -> float:
    return priced(stack, overrides, traffic).monthly_usd - priced(stack, None, traffic).monthly_usd


def test_without_the_keys_the_estimates_are_unchanged():
    for stack in ("dev", "gcp"):
        names = [i.name for i in priced(stack).items]
        assert not any("CloudWatch" in n or "Prometheus" in n or "Alerting" in n for n in names)


def test_aws_monitoring_adds_four_alarm_metrics_a_dashboard_and_one_custom_metric():
    # 5xx rate (2 metrics) + p99 (1) + healthy targets (1) = 4 x $0.10, $3.00, 1 x $0.30.
    assert added("dev", {"monitoring": True}) == pytest.approx(0.40 + 3.00 + 0.30)  # $3.70


def test_container_insights_adds_the_running_below_desired_alarms_two_metrics():
    base = {"monitoring": True, "containerInsights": True}
    assert added("dev", base) == pytest.approx(0.60 + 3.00 + 0.30)  # $3.90


def test_a_canary_adds_the_second_target_groups_two_alarms_three_metrics_and_a_note():
    # The 5xx rate (2 metrics) and p99 (1) once more, on the alternate target group: 3 x $0.10.
    canary = {"monitoring": True, "rollout": "canary"}
    assert added("dev", canary) - added("dev", {"monitoring": True}) == pytest.approx(0.30)
    result = priced("dev", canary)
    assert any("5 alarms reading 7 metrics" in i.name for i in result.items)
    assert any("second target group" in n and "cost nothing" in n for n in result.notes)


def test_requests_per_replica_adds_the_two_target_tracking_alarms():
    assert added("dev", {"requestsPerReplica": 600}) == pytest.approx(2 * 0.10)  # $0.20


def test_emf_log_lines_are_priced_with_traffic_and_left_out_of_the_break_even():
    traffic = est.Traffic(requests_per_month=1_000_000)
    with_traffic = priced("dev", {"monitoring": True}, traffic)
    # 1,000,000 lines x 400 bytes = 0.4 GB x $0.50 = $0.20.
    (emf,) = [i for i in with_traffic.items if i.name.startswith("CloudWatch Logs ingestion")]
    assert emf.monthly_usd == pytest.approx(0.20)
    without = priced("dev", {"monitoring": True})
    assert with_traffic.monthly_usd == pytest.approx(without.monthly_usd + 0.20)
    assert with_traffic.serverless.container_monthly_usd == pytest.approx(without.monthly_usd)


def test_gcp_monitoring_adds_samples_alerting_and_the_uptime_check():
    app_samples = 2 * 125 * MINUTES / 1e6  # 10.95 million: 2 replicas x 125 series a minute
    ksm_samples = 50 * MINUTES * 2 / 1e6  # 4.38 million: 50 series every 30 s
    conditions = 5 * 1.50  # four PromQL conditions and the uptime check's
    series = 5 * MINUTES / 1e6 * 0.35  # 219,000 series returned
    uptime = 5 * (MINUTES / 5) / 1e3 * 0.30  # 5 checkers every 5 minutes: 43,800 executions
    expected = (app_samples + ksm_samples) * 0.06 + conditions + series + uptime
    assert expected == pytest.approx(21.64, abs=0.01)
    assert added("gcp", {"monitoring": True}) == pytest.approx(expected)


def test_gcp_prometheus_samples_follow_min_replicas():
    three = {"monitoring": True, "minReplicas": 3, "maxReplicas": 5}
    items = {i.name.split(" (")[0]: i for i in priced("gcp", three).items}
    assert items["Managed Prometheus: the endpoint's metrics"].quantity == pytest.approx(
        3 * 125 * MINUTES / 1e6
    )


def test_the_free_allowances_are_noted_not_subtracted():
    assert any("first 3 dashboards" in n for n in priced("dev", {"monitoring": True}).notes)
    assert any("first million executions" in n for n in priced("gcp", {"monitoring": True}).notes)
