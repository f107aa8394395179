"""``numpy_answers`` with a return annotation: the declared type validates numpy's values."""

from tests.app.models.numpy_answers import answer


def predict(msg: str) -> float | int | list[float] | list[list[float]] | dict[str, object] | str:
    return answer(msg)
