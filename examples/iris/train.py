"""Train the iris classifier and save it next to this file as ``model.joblib``.

    python examples/iris/train.py            # from the repository root, in the project's venv

The data set ships inside scikit-learn (``sklearn.datasets.load_iris``): nothing is downloaded.
The script prints the held-out accuracy and the file's SHA-256 (for ``modelSha256``).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent


def train(out: Path, seed: int = 0) -> float:
    """Fit, save to ``out`` and return the accuracy on a held-out quarter of the data."""
    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.25, random_state=seed, stratify=data.target
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x_train, y_train)
    accuracy = float(model.score(x_test, y_test))
    # The class names travel with the model, so the endpoint answers "setosa", not 0.
    joblib.dump({"model": model, "classes": list(data.target_names)}, out)
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "model.joblib", help="where to save")
    args = parser.parse_args()
    accuracy = train(args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"saved {args.out} (held-out accuracy {accuracy:.3f}, sha256 {digest})")


if __name__ == "__main__":
    main()
