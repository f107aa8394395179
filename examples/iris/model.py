"""An iris classifier (scikit-learn) behind the endpoint: copy this file over ``app/model.py``.

Train it first (``python examples/iris/train.py``), which writes ``model.joblib``; copy that
next to ``app/model.py`` too, or ship it separately and set ``MODEL_PATH`` (the stack key
``modelUri`` does that for you on the clouds).

    curl -s localhost:8080/predict -H 'Content-Type: application/json' -d '{"msg":
      {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}}'
    {"response": {"species": "setosa", "probability": 0.981}, "success": true}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import joblib
from pydantic import BaseModel, ConfigDict, Field

__version__ = "iris-logreg-1.0.0"

_model = None
_classes: list[str] = []


class Flower(BaseModel):
    """One flower's measurements, in centimetres."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
            ]
        },
    )

    sepal_length: float = Field(gt=0, le=30, description="Sepal length in cm")
    sepal_width: float = Field(gt=0, le=30, description="Sepal width in cm")
    petal_length: float = Field(gt=0, le=30, description="Petal length in cm")
    petal_width: float = Field(gt=0, le=30, description="Petal width in cm")


class Prediction(BaseModel):
    species: Literal["setosa", "versicolor", "virginica"]
    probability: float = Field(ge=0, le=1, description="The model's probability for it")


def load(path: str | None = None) -> None:
    """Load the trained pipeline: from ``MODEL_PATH`` when the server is given one, else the
    ``model.joblib`` beside this file."""
    global _model, _classes
    saved = joblib.load(path or Path(__file__).with_name("model.joblib"))
    _model, _classes = saved["model"], saved["classes"]


def predict(msg: Flower) -> Prediction:
    row = [[msg.sepal_length, msg.sepal_width, msg.petal_length, msg.petal_width]]
    probabilities = _model.predict_proba(row)[0]
    best = int(probabilities.argmax())
    return Prediction(species=_classes[best], probability=round(float(probabilities[best]), 4))
