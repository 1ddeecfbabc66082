"""Wall time and peak memory of driftwise's drift statistics vs Evidently's DataDriftPreset.

.venv/bin/python benchmarks/bench_drift.py --rows 100000 --cols 50 --evidently
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pandas as pd

from monitoring_lib.metrics.drift.memory import compute_drift
from monitoring_lib.spec.drift import DriftSettings

T = TypeVar("T")


def make_frame(rows: int, cols: int, seed: int, shift: float) -> pd.DataFrame:
    """Numerical columns (the first shifted) and every fifth column categorical."""
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for i in range(cols):
        if i % 5 == 4:
            data[f"c{i}"] = rng.choice(np.array(["a", "b", "c", "d", "e"]), rows)
        else:
            data[f"n{i}"] = rng.normal(shift if i == 0 else 0.0, 1.0, rows)
    return pd.DataFrame(data)


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(label: str, run: Callable[[], T], trace: bool) -> T:
    """Run once; print wall seconds, the process max RSS and its growth during the run.

    tracemalloc (``trace``) adds the run's peak of Python allocations, but slows Python-heavy
    code such as Evidently several times, so it is off unless asked for.
    """
    rss_before = _max_rss_mib()
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    traced = ""
    if trace:
        traced = f"   traced peak {tracemalloc.get_traced_memory()[1] / 2**20:8.1f} MiB"
        tracemalloc.stop()
    rss = _max_rss_mib()
    print(
        f"{label:<26} {seconds:8.2f} s   max RSS {rss:8.1f} MiB (+{rss - rss_before:.1f}){traced}"
    )
    return result


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame) -> object:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numerical = [c for c in current.columns if c.startswith("n")]
    categorical = [c for c in current.columns if c.startswith("c")]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    return Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="current window rows")
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument(
        "--ref-rows", type=int, default=None, help="reference rows (default: --rows)"
    )
    parser.add_argument("--evidently", action="store_true", help="also time DataDriftPreset")
    parser.add_argument("--mode", choices=["calibrated", "evidently"], default="calibrated")
    parser.add_argument("--trace", action="store_true", help="also report tracemalloc peaks")
    args = parser.parse_args()
    reference = make_frame(args.ref_rows or args.rows, args.cols, 0, 0.0)
    current = make_frame(args.rows, args.cols, 1, 0.3)
    numerical = [c for c in current.columns if c.startswith("n")]
    categorical = [c for c in current.columns if c.startswith("c")]
    print(f"reference {len(reference)} x {args.cols}, current {len(current)} x {args.cols}")
    settings = DriftSettings(mode=args.mode)
    records = measure(
        f"driftwise ({args.mode})",
        lambda: compute_drift(
            reference, current, numerical=numerical, categorical=categorical, settings=settings
        ),
        args.trace,
    )
    drifted = sorted(r.column for r in records if r.status == "drift" and r.column)
    print(f"driftwise flagged: {drifted}")
    if args.evidently:
        measure("evidently DataDriftPreset", lambda: run_evidently(reference, current), args.trace)


if __name__ == "__main__":
    main()
