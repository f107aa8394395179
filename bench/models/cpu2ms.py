"""A CPU-bound stand-in for a real model: about 2 ms of pure-Python arithmetic per call.

Pure Python on purpose: it holds the GIL all the time, as most pre- and post-processing code
does, so the servers cannot hide it in a C extension that releases the GIL, and it needs no
package the app's venv lacks. ``CPU2MS_ITERATIONS`` fixes the loop's length; ``bench/bench.py``
measures it once (``calibrate()``) and gives every server the same number, so each does exactly
the same work per request. Without it, the module calibrates itself at import.
"""

from __future__ import annotations

import os
import time
from typing import Any

__version__ = "cpu2ms-1"

TARGET_SECONDS = 0.002


def burn(iterations: int) -> int:
    """The work: a loop of integer arithmetic, ``iterations`` long."""
    acc = 0
    for i in range(iterations):
        acc = (acc + i * i) % 1_000_003
    return acc


def calibrate(target: float = TARGET_SECONDS, samples: int = 40) -> int:
    """The loop length that takes ``target`` seconds on this machine when nothing else runs.

    The fastest of ``samples`` timings, not their median: other processes only ever make a call
    slower, so the fastest one is the closest to the loop's own cost.
    """
    iterations = 10_000
    for _ in range(3):  # estimate, then refine twice with the estimate
        fastest = min(_timed(iterations) for _ in range(samples))
        iterations = max(1, round(iterations * target / fastest))
    return iterations


def _timed(iterations: int) -> float:
    started = time.perf_counter()
    burn(iterations)
    return time.perf_counter() - started


ITERATIONS = int(os.environ.get("CPU2MS_ITERATIONS", "0")) or calibrate()


def predict(msg: Any) -> Any:
    """Spend about 2 ms of CPU, then echo ``msg`` (so the contract is the echo's)."""
    burn(ITERATIONS)
    return msg


if __name__ == "__main__":
    n = calibrate()
    timings = sorted(_timed(n) for _ in range(100))
    print(f"{n} iterations: {timings[0] * 1e3:.3f} ms fastest, {timings[50] * 1e3:.3f} ms median")
