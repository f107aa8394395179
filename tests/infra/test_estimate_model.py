"""The cost estimate prices the room a model's weights take (issue 12), from infra/prices.yaml.

Expected figures are worked out by hand from the published unit prices (730 hours a month).
"""

from __future__ import annotations

import pytest

from infra import estimate as est
from tests.infra.test_estimate import DEV_TOTAL, GCP_TOTAL, by_name, priced

# dev + 30 GB over Fargate's included 20: 2 tasks x 30 GB x 730 h x $0.000111 = $4.8618
DEV_MODEL_STORAGE = 2 * 30 * 730 * 0.000111
# gcp Autopilot + a 4 GiB model volume: each Pod requests 4 + 1 GiB of ephemeral storage,
# 2 Pods x 5 GiB x 730 h x $0.0000548 = $0.40004
GCP_MODEL_STORAGE = 2 * 5 * 730 * 0.0000548


def test_hand_worked_storage_figures():
    assert round(DEV_MODEL_STORAGE, 2) == 4.86
    assert round(GCP_MODEL_STORAGE, 2) == 0.40


def test_fargate_storage_over_20_gb_is_priced_per_task():
    result = priced("dev", {"modelUri": "s3://b/m.joblib", "modelStorageGiB": 30})
    item = by_name(result)["Fargate ephemeral storage over 20 GB (2 tasks x 30 GB for the model)"]
    assert (item.unit_price_usd, item.quantity, item.unit) == (0.000111, 2 * 30 * 730, "GB-hour")
    assert result.monthly_usd == pytest.approx(DEV_TOTAL + DEV_MODEL_STORAGE)


def test_a_model_within_fargates_included_20_gb_costs_nothing_more():
    result = priced("dev", {"modelUri": "s3://b/m.joblib"})
    assert result.monthly_usd == pytest.approx(DEV_TOTAL)
    assert not [name for name in by_name(result) if "ephemeral" in name]


def test_autopilot_prices_the_pods_ephemeral_storage_request():
    result = priced("gcp", {"modelUri": "gs://b/m.joblib", "modelStorageGiB": 4})
    item = by_name(result)[
        "Autopilot Pod ephemeral storage (2 Pods x 5 GiB: the model's volume + 1 GiB)"
    ]
    assert (item.unit_price_usd, item.quantity, item.unit) == (0.0000548, 2 * 5 * 730, "GiB-hour")
    assert result.monthly_usd == pytest.approx(GCP_TOTAL + GCP_MODEL_STORAGE)
    assert any("priced because modelUri" in n for n in result.notes)


def test_standard_mode_keeps_the_model_on_the_priced_boot_disks():
    plain = priced("gcp", {"gkeMode": "standard"})
    model = priced("gcp", {"gkeMode": "standard", "modelUri": "gs://b/m", "modelStorageGiB": 4})
    assert model.monthly_usd == pytest.approx(plain.monthly_usd)


def test_the_new_figures_carry_a_source():
    prices = est.load_prices()
    for cloud, region, key in [
        ("aws", "us-east-1", "fargate_ephemeral_storage_gb_hour"),
        ("gcp", "us-central1", "autopilot_ephemeral_storage_gib_hour"),
    ]:
        figure = prices[cloud][region][key]
        assert figure["source"].startswith("https://") and figure["as_of"], key
