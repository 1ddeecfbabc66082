"""False-alarm and detection rates of the multivariate detector next to the univariate verdicts,
on the same simulated days.

A day is a window of ``--window`` rows: eight numerical columns (``x`` and ``y`` correlated by
``--correlation``, six independent) and one categorical. Three kinds of day: unchanged, the
correlation of x and y flipped (every marginal unchanged), and x shifted by ``--shift`` standard
deviations. A day counts as flagged by the univariate verdicts when any column is flagged
(``drift.score`` with status drift, calibrated mode), by the multivariate detector when
``multivariate.drift`` is 1. Each of ``--references`` references (its own draw, its own fitted
model) gets ``--days`` days of each kind, so a reference that happens to be unusual counts once.

    .venv/bin/python benchmarks/bench_multivariate.py --references 5 --days 20 --window 500
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import pandas as pd

from monitoring_lib.metrics.drift.memory import compute_drift
from monitoring_lib.metrics.multivariate import (
    ReconstructionModel,
    fit_model,
    multivariate_records,
    window_errors,
)
from monitoring_lib.records import Metric, MetricStatus
from monitoring_lib.spec.signals import MultivariateSettings

NUMERICAL = ["x", "y", *(f"z{i}" for i in range(6))]
CATEGORICAL = ["kind"]


def make_day(
    rows: int, rng: np.random.Generator, correlation: float, shift: float = 0.0
) -> pd.DataFrame:
    x = rng.normal(size=rows)
    y = correlation * x + np.sqrt(1 - correlation**2) * rng.normal(size=rows)
    data = {"x": x + shift, "y": y, **{f"z{i}": rng.normal(size=rows) for i in range(6)}}
    return pd.DataFrame({**data, "kind": rng.choice(["a", "b", "c"], size=rows, p=[0.5, 0.3, 0.2])})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", type=int, default=5)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--reference", type=int, default=5_000)
    parser.add_argument("--correlation", type=float, default=0.8)
    parser.add_argument("--shift", type=float, default=0.3)
    args = parser.parse_args()
    settings = MultivariateSettings()
    rng = np.random.default_rng(0)
    kinds: dict[str, Callable[[], pd.DataFrame]] = {
        "unchanged": lambda: make_day(args.window, rng, args.correlation),
        "correlation flipped": lambda: make_day(args.window, rng, -args.correlation),
        f"x shifted {args.shift} sd": lambda: make_day(
            args.window, rng, args.correlation, args.shift
        ),
    }
    flagged = {name: [0, 0] for name in kinds}
    for index in range(args.references):
        reference = make_day(args.reference, rng, args.correlation)
        model = fit_model(reference, NUMERICAL, CATEGORICAL, settings, key=f"bench-{index}")
        assert isinstance(model, ReconstructionModel)
        for name, day in kinds.items():
            for _ in range(args.days):
                window = day()
                records = compute_drift(
                    reference, window, numerical=NUMERICAL, categorical=CATEGORICAL
                )
                flagged[name][0] += any(
                    r.metric == Metric.DRIFT_SCORE and r.status is MetricStatus.DRIFT
                    for r in records
                )
                found = window_errors(model, [window])
                flagged[name][1] += multivariate_records(model, found, settings, 0)[1].value == 1
    total = args.references * args.days
    print(
        f"{args.references} references of {args.reference} rows, windows of {args.window} rows, "
        f"{total} days of each kind"
    )
    print("| days | univariate (any column flagged) | multivariate |")
    print("| --- | --- | --- |")
    for name, (univariate, multivariate) in flagged.items():
        print(f"| {name} | {univariate / total:.1%} | {multivariate / total:.1%} |")


if __name__ == "__main__":
    main()
