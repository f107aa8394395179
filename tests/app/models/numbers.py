"""A model with a list input from the query string: ``?msg=[1,2,3]`` (JSON) or a POST."""

from typing import Annotated

from pydantic import Field

Reading = Annotated[float, Field(ge=-1e6, le=1e6)]


def predict(msg: Annotated[list[Reading], Field(min_length=1, examples=[[1, 2, 3]])]) -> float:
    return sum(msg)
