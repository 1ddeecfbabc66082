"""False-alarm rate on unchanged windows and detection rate on shifted ones, per verdict mode.

A "day" is a window of ``--window`` rows drawn from the same distribution as the reference
(stationary) or with one numerical column shifted by ``--shift`` standard deviations. A
stationary day is a false alarm if any column is flagged; a shifted day is detected if the
shifted column is flagged.

    .venv/bin/python benchmarks/false_alarms.py --days 100 --window 1000
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from monitoring_lib.metrics.drift.memory import compute_drift
from monitoring_lib.records import Metric, MetricStatus
from monitoring_lib.spec.drift import DriftSettings

NUMERICAL = [f"n{i}" for i in range(15)]
CATEGORICAL = [f"c{i}" for i in range(5)]


def make_window(rows: int, rng: np.random.Generator, shift: float) -> pd.DataFrame:
    """15 numerical columns of mixed shapes and 5 categoricals; ``n0`` shifted by ``shift`` sd."""
    data: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERICAL):
        base = [rng.normal(0, 1, rows), rng.exponential(1.0, rows), rng.integers(0, 50, rows)][
            i % 3
        ]
        data[name] = base.astype(np.float64)
    data["n0"] = data["n0"] + shift
    probs = np.array([0.5, 0.25, 0.15, 0.07, 0.03])
    for name in CATEGORICAL:
        data[name] = rng.choice(np.array(list("abcde")), rows, p=probs)
    return pd.DataFrame(data)


def flagged_columns(reference: pd.DataFrame, window: pd.DataFrame, mode: str) -> set[str]:
    records = compute_drift(
        reference,
        window,
        numerical=NUMERICAL,
        categorical=CATEGORICAL,
        settings=DriftSettings(mode=mode),
    )
    return {
        r.column
        for r in records
        if r.metric == Metric.DRIFT_SCORE and r.status is MetricStatus.DRIFT
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--window", type=int, default=1000, help="rows per daily window")
    parser.add_argument("--ref-rows", type=int, default=10_000)
    parser.add_argument(
        "--shift", type=float, default=0.5, help="shift of n0 in sd on shifted days"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    reference = make_window(args.ref_rows, rng, 0.0)
    stationary = [make_window(args.window, rng, 0.0) for _ in range(args.days)]
    shifted = [make_window(args.window, rng, args.shift) for _ in range(args.days)]
    print(
        f"reference {args.ref_rows} rows, {args.days} days x {args.window} rows, shift {args.shift}"
    )
    for mode in ("evidently", "calibrated"):
        alarms = sum(bool(flagged_columns(reference, w, mode)) for w in stationary)
        column_alarms = sum(len(flagged_columns(reference, w, mode)) for w in stationary)
        detected = sum("n0" in flagged_columns(reference, w, mode) for w in shifted)
        print(
            f"{mode:<11} false-alarm days {alarms / args.days:6.1%}   "
            f"false column flags/day {column_alarms / args.days:5.2f}   "
            f"detection {detected / args.days:6.1%}"
        )


if __name__ == "__main__":
    main()
