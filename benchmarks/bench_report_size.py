"""Size and time of one window's HTML drift report: Evidently's ``save_html`` against driftwise's
page (shared bundle, escaped data), at several report sample sizes, on the demo's columns.

    .venv/bin/python benchmarks/bench_report_size.py [--rows 1500] [--reference 20000]
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from monitoring_lib.demo_data import CATEGORICAL, NUMERICAL, reference_set, traffic_day, world_on
from monitoring_lib.metrics.report_page import ASSET_FOLDER
from monitoring_lib.metrics.reports import uniform_sample, write_drift_report


def _evidently_save_html(reference, current, path: Path, size: int) -> None:  # type: ignore[no-untyped-def]
    columns = [*NUMERICAL, *CATEGORICAL]
    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL)
    current_sample = uniform_sample(current[columns], size, 1)
    reference_sample = uniform_sample(reference[columns], size, 0)
    snapshot = Report([DataDriftPreset(columns=columns)]).run(
        Dataset.from_pandas(current_sample, data_definition=definition),
        Dataset.from_pandas(reference_sample, data_definition=definition),
    )
    snapshot.save_html(str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_500, help="rows in the window")
    parser.add_argument("--reference", type=int, default=20_000, help="rows in the reference")
    args = parser.parse_args()
    reference = reference_set(args.reference, seed=1)
    day = date(2024, 3, 1)
    current, _ = traffic_day(day, args.rows, world_on(day, day), "UTC", np.random.default_rng(2), 0)
    print(f"window {len(current)} rows, reference {len(reference)} rows, "
          f"{len(NUMERICAL)} numerical + {len(CATEGORICAL)} categorical columns")  # fmt: skip
    print(f"{'writer':<34}{'sample':>8}{'bytes':>12}{'gzip':>10}{'seconds':>9}")
    with tempfile.TemporaryDirectory() as folder:
        for size in (50_000, 5_000):
            path = Path(folder) / f"evidently-{size}.html"
            started = time.perf_counter()
            _evidently_save_html(reference, current, path, size)
            _row("Evidently save_html", size, path, time.perf_counter() - started)
        for size in (50_000, 5_000):
            path = Path(folder) / "reports" / f"driftwise-{size}.html"
            started = time.perf_counter()
            write_drift_report(
                reference, current, numerical=NUMERICAL, categorical=CATEGORICAL, path=path,
                sample_size=size,
            )  # fmt: skip
            _row("driftwise page (per report)", size, path, time.perf_counter() - started)
        shared = sum(p.stat().st_size for p in (Path(folder) / "reports" / ASSET_FOLDER).iterdir())
        print(f"driftwise shared bundle and font, once per reports folder: {shared:,} bytes")


def _row(name: str, size: int, path: Path, seconds: float) -> None:
    data = path.read_bytes()
    print(f"{name:<34}{size:>8}{len(data):>12,}{len(gzip.compress(data)):>10,}{seconds:>9.2f}")


if __name__ == "__main__":
    main()
