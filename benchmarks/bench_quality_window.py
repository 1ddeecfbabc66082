"""One window's stored quality: the Evidently path (``compute_quality``) against the counts path
(``window_quality``, what the monitor stores), on the same frames.

    .venv/bin/python benchmarks/bench_quality_window.py [--rows 1500] [--repeat 5]

Both produce the same records (tests/unit/test_quality_window.py); the counts path adds an
interval to each value and keeps the counts. Wall seconds per window, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from monitoring_lib.metrics.quality.compute import compute_quality
from monitoring_lib.metrics.quality.window import window_quality

CLASSES = ["billing", "technical", "account"]


def binary(rows: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, Any]]:
    truth = (rng.random(rows) < 0.3).astype(float)
    score = np.clip(0.4 * truth + 0.6 * rng.random(rows), 0, 1)
    frame = pd.DataFrame({"y": truth, "y_hat": (score > 0.5).astype(int), "p": score})
    return frame, {"task": "binary", "probability": "p"}


def multiclass(rows: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, Any]]:
    truth = rng.integers(0, 3, rows)
    p = rng.random((rows, 3))
    p[np.arange(rows), truth] += 1.0
    p /= p.sum(axis=1, keepdims=True)
    names = np.array(CLASSES)
    frame = pd.DataFrame({"y": names[truth], "y_hat": names[p.argmax(axis=1)]})
    mapping = {label: f"p_{label}" for label in CLASSES}
    for i, label in enumerate(CLASSES):
        frame[mapping[label]] = p[:, i]
    return frame, {"task": "multiclass", "probability": mapping}


def regression(rows: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, Any]]:
    target = rng.normal(50, 10, rows)
    return pd.DataFrame({"y": target, "y_hat": target + rng.normal(0, 4, rows)}), {
        "task": "regression"
    }


def best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    warnings.simplefilter("ignore")
    print(f"{'task':<11} {'rows':>6} {'Evidently s':>12} {'counts s':>9} {'ratio':>6}")
    for name, make in (("binary", binary), ("multiclass", multiclass), ("regression", regression)):
        frame, kwargs = make(args.rows, rng)
        common = {"target": "y", "prediction": "y_hat", **kwargs}
        compute_quality(frame, **common)  # warm imports and caches
        evidently = best(lambda f=frame, c=common: compute_quality(f, **c), args.repeat)
        counts = best(lambda f=frame, c=common: window_quality(f, **c), args.repeat)
        ratio = evidently / counts
        print(f"{name:<11} {args.rows:>6} {evidently:>12.4f} {counts:>9.4f} {ratio:>6.0f}")


if __name__ == "__main__":
    main()
