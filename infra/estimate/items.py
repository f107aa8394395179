"""What an estimate is made of: priced items, the serverless comparison, the result, the
traffic it is priced at, and the error that says why something cannot be priced."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DEFAULT_MS_PER_REQUEST = 50.0
DEFAULT_MEMORY_MB = 512


class EstimateError(Exception):
    """A stack, setting, region or argument that cannot be priced; the message says why."""


@dataclass(frozen=True)
class Item:
    """One priced line: unit price x quantity = monthly cost."""

    name: str
    unit_price_usd: float
    quantity: float
    unit: str

    @property
    def monthly_usd(self) -> float:
        """The item's gross monthly cost, unrounded."""
        return self.unit_price_usd * self.quantity

    def as_dict(self) -> dict[str, Any]:
        """The item as `--json` prints it (money rounded to cents, unit price as listed)."""
        return {
            "name": self.name,
            "unit_price_usd": self.unit_price_usd,
            "quantity": round(self.quantity, 6),
            "unit": self.unit,
            "monthly_usd": round(self.monthly_usd, 2),
        }


@dataclass(frozen=True)
class Serverless:
    """The serverless alternative at a given traffic, and where the containers win."""

    service: str
    region: str
    requests_per_month: int
    ms_per_request: float
    memory_mb: int
    items: list[Item]
    notes: list[str]
    container_monthly_usd: float
    cost_per_request_usd: float

    @property
    def monthly_usd(self) -> float:
        """The alternative's gross monthly cost at `requests_per_month`, unrounded."""
        return sum(i.monthly_usd for i in self.items)

    @property
    def break_even_requests_per_month(self) -> int:
        """Traffic above which the fixed container bill is the cheaper: container / per request."""
        return math.ceil(self.container_monthly_usd / self.cost_per_request_usd)

    def as_dict(self) -> dict[str, Any]:
        """The comparison as `--json` prints it under "serverless"."""
        return {
            "service": self.service,
            "region": self.region,
            "requests_per_month": self.requests_per_month,
            "ms_per_request": self.ms_per_request,
            "memory_mb": self.memory_mb,
            "monthly_usd": round(self.monthly_usd, 2),
            "cost_per_million_requests_usd": round(self.cost_per_request_usd * 1e6, 4),
            "break_even_requests_per_month": self.break_even_requests_per_month,
            "items": [i.as_dict() for i in self.items],
            "notes": self.notes,
        }


@dataclass(frozen=True)
class Estimate:
    """A stack's monthly estimate: priced items, their total and what was left out."""

    stack: str
    cloud: str
    region: str | None
    items: list[Item]
    notes: list[str]
    serverless: Serverless | None = None
    traffic_requested: bool = False

    @property
    def monthly_usd(self) -> float:
        """The gross monthly total, unrounded."""
        return sum(i.monthly_usd for i in self.items)

    def as_dict(self) -> dict[str, Any]:
        """The estimate as `--json` prints it."""
        out: dict[str, Any] = {
            "stack": self.stack,
            "cloud": self.cloud,
            "region": self.region,
            "monthly_usd": round(self.monthly_usd, 2),
            "items": [i.as_dict() for i in self.items],
            "notes": self.notes,
        }
        if self.traffic_requested:
            out["serverless"] = self.serverless.as_dict() if self.serverless else None
        return out


@dataclass(frozen=True)
class Traffic:
    """The traffic the serverless alternative is priced at."""

    requests_per_month: int
    ms_per_request: float = DEFAULT_MS_PER_REQUEST
    memory_mb: int = DEFAULT_MEMORY_MB


def _money(x: float) -> str:
    return f"${x:,.2f}"
