"""A stack's estimate, put together from each target's prices, and rendered as a table."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from infra.estimate.aws import _aws, lambda_alternative
from infra.estimate.gcp import _gcp, cloud_run_alternative
from infra.estimate.items import Estimate, Item, Traffic, _money
from infra.estimate.local import _local_notes
from infra.estimate.monitoring import aws_monitoring, aws_traffic, gcp_monitoring
from infra.estimate.prices import _region_prices, load_prices
from infra.settings import Settings


def estimate(
    settings: Settings,
    prices: Mapping[str, Any] | None = None,
    traffic: Traffic | None = None,
) -> Estimate:
    """Prices validated settings for one month; with `traffic`, adds the serverless alternative.

    Raises:
        EstimateError: for a region (or gcp machine type) the price file does not list.
    """
    prices = load_prices() if prices is None else prices
    if settings.cloud == "aws":
        assert settings.aws is not None
        p = _region_prices(prices, "aws", settings.aws.region)
        items, notes = _aws(settings, p)
        region: str | None = settings.aws.region
    elif settings.cloud == "gcp":
        assert settings.gcp is not None
        p = _region_prices(prices, "gcp", settings.gcp.region)
        items, notes = _gcp(settings, p)
        region = settings.gcp.region
    else:
        items, notes, region = [], _local_notes(traffic), None
    if settings.cloud in ("aws", "gcp"):
        # What monitoring and requestsPerReplica add (nothing without them).
        watch = aws_monitoring if settings.cloud == "aws" else gcp_monitoring
        watch_items, watch_notes = watch(settings, p)
        items, notes = items + watch_items, notes + watch_notes
    result = Estimate(settings.stack, settings.cloud, region, items, notes)
    if traffic is None:
        return result
    container = result.monthly_usd
    serverless = None
    if settings.cloud == "aws":
        serverless = lambda_alternative(settings, p, traffic, container)
        # Per-request costs of the containers' own: on the bill, not in the break-even.
        items = items + aws_traffic(settings, p, traffic)
    elif settings.cloud == "gcp":
        serverless = cloud_run_alternative(p, traffic, container)
    return Estimate(
        result.stack, result.cloud, region, items, notes, serverless, traffic_requested=True
    )


def _unit_price(x: float) -> str:
    text = f"{x:.10f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def _quantity(x: float) -> str:
    text = f"{x:,.4f}".rstrip("0").rstrip(".")
    return text or "0"


def _table(items: Sequence[Item], total_label: str, total: float) -> list[str]:
    headers = ("Item", "Unit price", "Quantity", "Unit", "Monthly")
    rows = [
        (
            i.name,
            _unit_price(i.unit_price_usd),
            _quantity(i.quantity),
            i.unit,
            _money(i.monthly_usd),
        )
        for i in items
    ]
    rows.append((total_label, "", "", "", _money(total)))
    widths = [max(len(r[c]) for r in [headers, *rows]) for c in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return (
            f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  "
            f"{r[3]:<{widths[3]}}  {r[4]:>{widths[4]}}"
        ).rstrip()

    rule = "-" * len(line(["-" * w for w in widths]))
    return [line(headers), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1])]


def _bullets(notes: Sequence[str]) -> list[str]:
    return [
        textwrap.fill(n, width=100, initial_indent="  - ", subsequent_indent="    ") for n in notes
    ]


def render(result: Estimate) -> str:
    """The estimate as a readable, aligned table with its notes."""
    where = f"{result.cloud}, {result.region}" if result.region else result.cloud
    out = [
        f"echo-service, stack {result.stack} ({where}): on-demand list prices, 730-hour month, "
        "free tiers not subtracted",
        "",
    ]
    if result.items:
        out += _table(result.items, "Total per month", result.monthly_usd)
    else:
        out.append(f"Total per month: {_money(0)}")
    out += ["", "Notes:", *_bullets(result.notes)]
    s = result.serverless
    if s is not None:
        cheaper = "containers" if s.monthly_usd > s.container_monthly_usd else s.service
        summary = [
            f"Containers (this stack): {_money(s.container_monthly_usd)}/month whatever the "
            f"traffic; serverless: {_money(s.cost_per_request_usd * 1e6)} per million requests.",
            f"Break-even: {s.break_even_requests_per_month:,} requests/month (about "
            f"{s.break_even_requests_per_month / (730 * 3600):,.1f} requests/second on average). "
            "Above it the containers are cheaper; below it serverless is.",
            f"At {s.requests_per_month:,} requests/month the cheaper is: {cheaper}.",
        ]
        out += [
            "",
            textwrap.fill(
                f"Serverless alternative: {s.service}, {s.region}, at {s.requests_per_month:,} "
                f"requests/month ({s.ms_per_request:g} ms, {s.memory_mb} MB each)",
                width=100,
            ),
            "",
            *_table(s.items, "Serverless per month", s.monthly_usd),
            "",
            *(textwrap.fill(line, width=100) for line in summary),
            "",
            "Serverless notes:",
            *_bullets(
                [
                    *s.notes,
                    "The container bill is for minReplicas replicas; traffic that needs more "
                    "replicas (up to maxReplicas) raises it and moves the break-even up.",
                ]
            ),
        ]
    return "\n".join(out)
