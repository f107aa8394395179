"""A model that declares an example and fails on every input (a bug, or a missing package)."""

from typing import Annotated

from pydantic import Field

__version__ = "fails-1"


def predict(msg: Annotated[str, Field(examples=["Hi"])]) -> str:
    raise RuntimeError("this model cannot answer")
