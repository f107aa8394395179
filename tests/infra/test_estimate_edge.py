"""The estimate prices what the edge keys add, from prices.yaml; totals worked by hand here.

aws us-east-1, shipped dev stack (see test_estimate.py for its $54.90):
    + WAF web ACL 1 x $5.00 + 2 rules (rate limit, managed group) x $1.00   = $7.00
    + Secrets Manager secret 1 x $0.40                                      = $0.40
    = $62.30; ACM certificates and Route 53 alias queries are free (notes).
gcp us-central1, shipped gcp stack (Autopilot, $111.10):
    + one more forwarding rule (HTTPS and HTTP redirect: 2 instead of 1), 730 h x $0.025 = $18.25
    + Cloud Armor policy 1 x $5.00 + 2 rules x $1.00                         = $7.00
    = $136.35; the static address in use and the managed certificate are free (notes).
"""

from __future__ import annotations

from typing import Any

import pytest

from infra import estimate as est

GCP = {"gcp:project": "my-project"}


def priced(stack: str, overrides: dict[str, Any] | None = None) -> est.Estimate:
    return est.estimate(est.load_stack_settings(stack, overrides, env={}))


def names(result: est.Estimate) -> list[str]:
    return [i.name for i in result.items]


def test_the_shipped_stacks_price_nothing_for_the_edge():
    assert round(priced("dev").monthly_usd, 2) == 54.90
    assert round(priced("gcp", GCP).monthly_usd, 2) == 111.10
    assert "LoadBalancer Service forwarding rule" in names(priced("gcp", GCP))


def test_aws_edge_adds_the_web_acl_its_rules_and_the_secret():
    # apiKeys as a stack file holds it when set with --secret: encrypted, present, not read.
    result = priced("dev", {"domain": "model.example.com", "rateLimitPerMinute": 100,
                            "managedRules": True, "apiKeys": {"secure": "v1:AAAA"}})  # fmt: skip
    edge = {i.name: (i.unit_price_usd, i.quantity) for i in result.items[-3:]}
    assert edge == {
        "WAF web ACL": (5.00, 1),
        "WAF rules (2)": (1.00, 2),
        "Secrets Manager secret (API keys)": (0.40, 1),
    }
    assert round(result.monthly_usd, 2) == 62.30
    notes = " ".join(result.notes)
    assert "$0.60 per million" in notes and "ACM certificates are free" in notes


def test_a_rate_limit_alone_is_one_rule():
    result = priced("dev", {"rateLimitPerMinute": 100})
    assert round(result.monthly_usd, 2) == 54.90 + 5.00 + 1.00


def test_gcp_edge_adds_a_forwarding_rule_and_cloud_armor():
    result = priced("gcp", {**GCP, "domain": "model.example.com", "rateLimitPerMinute": 100,
                            "dnsZone": "example-com"})  # fmt: skip
    rules = next(i for i in result.items if "forwarding rules" in i.name)
    assert (rules.unit_price_usd, rules.quantity) == (0.025, 2 * 730)
    assert "LoadBalancer Service forwarding rule" not in names(result)
    assert round(result.monthly_usd, 2) == 136.35
    notes = " ".join(result.notes)
    assert "$0.75 per million" in notes and "unverified" in notes
    assert "$0.40 per million" in notes and "not billed while the load balancer uses it" in notes


@pytest.mark.parametrize("limit", [1_000_001])
def test_gcp_refuses_a_rate_limit_above_cloud_armors_largest(limit: int):
    with pytest.raises(est.EstimateError, match="at most 1,000,000 on gcp"):
        priced("gcp", {**GCP, "domain": "model.example.com", "rateLimitPerMinute": limit})
