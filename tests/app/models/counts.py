"""A model taking integers: ``{"msg": [1, 2]}`` answers their sum. JSON Schema's ``integer``
includes ``2.0``, so the server takes it too."""

from typing import Annotated

from pydantic import Field


def predict(msg: Annotated[list[int], Field(min_length=1, max_length=100)]) -> int:
    assert all(type(n) is int for n in msg), msg
    return sum(msg)
