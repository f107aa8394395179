"""What a stack costs a month, before anything is deployed: `python -m infra.estimate STACK`.

Reads the same settings the program reads (Pulumi.yaml defaults, then `Pulumi.<stack>.yaml`,
validated by `infra.settings.load_settings`) with no credentials, no Pulumi CLI and no network,
and multiplies them by the public on-demand list prices in `infra/prices.yaml`, for a 730-hour
month. Free tiers and credits are listed in the notes, never subtracted.

With `--requests-per-month N` it also prices the serverless alternative at that traffic (AWS
Lambda behind a function URL for aws stacks, Cloud Run for gcp stacks) and the break-even
traffic above which the always-on containers are the cheaper of the two.

Exit status: 0 with an estimate, 2 when the stack, its settings, its region or an argument is
not usable (with a message saying why, never a traceback).

The package, one concern a module, imports pointing one way: `items` (what an estimate is
made of) <- `prices` (the price file) <- `aws`, `gcp`, `local`, `monitoring` (what each target
costs) <- `report` (the estimate put together and rendered) <- `cli`; `stack` reads a stack's
settings. This module only re-exports the public names.
"""

from infra.estimate.cli import main
from infra.estimate.items import Estimate, EstimateError, Item, Serverless, Traffic
from infra.estimate.prices import load_prices
from infra.estimate.report import estimate, render
from infra.estimate.stack import load_stack_settings

__all__ = [
    "Estimate",
    "EstimateError",
    "Item",
    "Serverless",
    "Traffic",
    "estimate",
    "load_prices",
    "load_stack_settings",
    "main",
    "render",
]
