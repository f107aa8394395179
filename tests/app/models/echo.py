"""The tests' own echo: any JSON value back as it came, like the shipped app/model.py.

The project's tests serve this module (``MODEL_MODULE=tests.app.models.echo``), never the
user's ``app/model.py``, so a user's model cannot change what they see.
"""

from typing import Annotated

from pydantic import Field, JsonValue

__version__ = "test-echo-1"


def predict(msg: Annotated[JsonValue, Field(examples=["Hi"])]) -> JsonValue:
    return msg
