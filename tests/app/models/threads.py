"""Reports the thread settings its worker sees: the environment's thread-pool variables, and
with ``?msg=torch`` torch's own intra-op thread count (imported only then)."""

import os

VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "RAYON_NUM_THREADS",
    "TOKENIZERS_PARALLELISM",
)


def predict(msg):
    if msg == "torch":
        import torch

        return torch.get_num_threads()
    return {name: os.environ.get(name) for name in VARIABLES}
