"""A small, real AI workload that runs offline on a CPU in well under a minute.

Trains a neural-network classifier (scikit-learn's MLPClassifier) on the handwritten digits
data set that ships inside scikit-learn (1,797 8x8 images; nothing is downloaded), then runs
inference one image at a time, as "Power Hungry Processing" did (sequential, no batching).

    aicarbon run python examples/classify_digits.py --inferences 20000
"""

from __future__ import annotations

import argparse
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inferences", type=int, default=20000, help="images to classify (default 20000)")
    parser.add_argument("--batch", type=int, default=1, help="images per call (default 1: sequential)")
    args = parser.parse_args()

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.25, random_state=0
    )
    started = time.perf_counter()
    model = MLPClassifier(hidden_layer_sizes=(64,), max_iter=200, random_state=0)
    with warnings.catch_warnings():  # 200 epochs reach ~97% accuracy; full convergence is not the point
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    trained_s = time.perf_counter() - started

    correct = done = 0
    started = time.perf_counter()
    while done < args.inferences:
        i = done % len(x_test)
        batch = min(args.batch, args.inferences - done, len(x_test) - i)
        predicted = model.predict(x_test[i : i + batch])
        correct += int((predicted == y_test[i : i + batch]).sum())
        done += batch
    infer_s = time.perf_counter() - started
    print(
        f"trained in {trained_s:.1f} s; classified {done} images in {infer_s:.1f} s "
        f"({done / infer_s:,.0f}/s), accuracy {correct / done:.1%}"
    )


if __name__ == "__main__":
    main()
