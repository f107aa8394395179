"""A typed model: a pydantic input with constraints and an example, a typed answer, a version."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__version__ = "flowers-2.1"


class Flower(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"petal_length": 1.4, "petal_width": 0.2}]}
    )

    petal_length: float = Field(gt=0, le=100, description="cm")
    petal_width: float = Field(gt=0, le=100, description="cm")


class Answer(BaseModel):
    species: Literal["setosa", "versicolor", "virginica"]
    confidence: float = Field(ge=0, le=1)


def predict(msg: Flower) -> Answer:
    if msg.petal_length < 2.5:
        return Answer(species="setosa", confidence=1.0)
    return Answer(species="versicolor" if msg.petal_width < 1.75 else "virginica", confidence=0.9)
