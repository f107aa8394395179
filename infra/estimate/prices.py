"""The price file (`infra/prices.yaml`): reading it, checking every figure, one region's figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.estimate.items import EstimateError

PRICES_FILE = Path(__file__).parent.parent / "prices.yaml"
_PRICES_PATH = f"infra/{PRICES_FILE.name}"  # as a user finds it from the project directory

# A slim Python image with granian and pydantic compresses to well under this; one image kept.
ASSUMED_IMAGE_GB = 0.1


@dataclass
class _Prices:
    """One region's figures from the price file, and the hours in a month."""

    cloud: str
    region: str
    figures: Mapping[str, Any]
    hours: float

    def usd(self, key: str) -> float:
        return float(self.figures[key]["usd"])


def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    """Reads the price file and checks every figure says what it is, where from and when.

    Raises:
        EstimateError: if a figure lacks a positive `usd`, `per`, `source` or `as_of`.
    """
    data = yaml.safe_load(path.read_text())
    for cloud in ("aws", "gcp"):
        for region, figures in data[cloud].items():
            for key, figure in _figures(figures):
                missing = [k for k in ("usd", "per", "source", "as_of") if not figure.get(k)]
                if missing or float(figure["usd"]) <= 0:
                    raise EstimateError(
                        f"{path.name}: {cloud} {region} {key} needs a positive usd, per, source "
                        f"and as_of (missing: {', '.join(missing) or 'a positive usd'})"
                    )
    return data


def _figures(figures: Mapping[str, Any]):
    for key, figure in figures.items():
        if key == "machine_types":
            yield from ((f"machine_types.{k}", v) for k, v in figure.items())
        else:
            yield key, figure


def _region_prices(prices: Mapping[str, Any], cloud: str, region: str) -> _Prices:
    known = prices.get(cloud) or {}
    if region not in known:
        raise EstimateError(
            f"no prices for {cloud} region {region}; known: {', '.join(sorted(known))}. "
            f"Add that region's figures, each with its source and date, to {_PRICES_PATH}."
        )
    return _Prices(cloud, region, known[region], float(prices["hours_per_month"]))
