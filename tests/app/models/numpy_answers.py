"""A model answering with numpy values, with and without a return annotation.

``msg`` picks the answer: ``scalar`` (a numpy float32), ``int`` (a numpy int64), ``array`` (a
2x2 float array), ``list`` (a list of numpy floats), ``dict`` (a dict of an array and a bool_),
``nan`` (an array holding NaN), ``big`` (5000 floats). ``predict`` has no return annotation; ``typed`` is the same
with one (``MODEL_MODULE=...numpy_answers`` serves the first; ``numpy_typed`` the second).
"""

import numpy as np


def answer(msg: str):
    if msg == "scalar":
        return np.float32(0.5)
    if msg == "int":
        return np.int64(7)
    if msg == "array":
        return np.array([[1.5, 2.0], [3.0, 4.25]])
    if msg == "list":
        return [np.float64(0.25), np.float32(1.0)]
    if msg == "dict":
        return {"embedding": np.arange(3, dtype=np.float32), "ok": np.bool_(True)}
    if msg == "nan":
        return np.array([1.0, np.nan])
    if msg == "big":
        return np.arange(5000, dtype=np.float64)
    return msg


def predict(msg: str):
    return answer(msg)
