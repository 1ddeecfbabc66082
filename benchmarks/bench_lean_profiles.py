"""Profiling with and without frequent items on numerical columns, on the same frame.

    .venv/bin/python benchmarks/bench_lean_profiles.py [--rows 100000] [--floats 35] \
        [--strings 15] [--repeat 3]

A run profiles the columns the spec names numerical only without frequent items
(``profile_frame(..., numeric_only=...)``); before, every column had them. Prints CPU seconds of
``profile_frame`` in this process, the best of ``--repeat``, taken in turn, and the ratio.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from monitoring_lib.metrics.profiling import profile_frame


def mixed_frame(rows: int, floats: int, strings: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i in range(floats):
        normal = rng.normal(50, 10, rows).round(3)
        columns[f"n{i}"] = normal if i % 2 else rng.lognormal(3, 1, rows).round(2)
    for i in range(strings):
        columns[f"c{i}"] = rng.choice([f"v{j}" for j in range(5 + 10 * i)], rows)
    return pd.DataFrame(columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--floats", type=int, default=35)
    parser.add_argument("--strings", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    df = mixed_frame(args.rows, args.floats, args.strings)
    numerical = [c for c in df.columns if c.startswith("n")]
    profile_frame(df.head(1_000))  # imports and first-call costs out of the figures
    seconds: dict[str, list[float]] = {"with items": [], "numerical without": []}
    for _ in range(args.repeat):
        for name, lean in (("with items", []), ("numerical without", numerical)):
            started = time.process_time()
            profile_frame(df, numeric_only=lean)
            seconds[name].append(time.process_time() - started)
    full, lean = min(seconds["with items"]), min(seconds["numerical without"])
    print(
        f"{args.rows} rows x ({args.floats} float + {args.strings} string) columns, CPU s "
        f"(best of {args.repeat}): every column with frequent items {full:.2f}, numerical "
        f"columns without {lean:.2f}: {full / lean:.1f}x; load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
