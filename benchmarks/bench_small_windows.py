"""Small daily windows: driftwise's whole monitor flow per window next to Evidently's
``DataDriftPreset`` on the same windows, and the wall time of a backfill over the whole log.

    .venv/bin/python benchmarks/bench_small_windows.py [--rows 50000] [--per-day 165] \
        [--windows 20] [--backfill-days 365] [--out FILE]

It writes its own car-loan log first: a prediction log CSV (``--rows`` rows, ``--per-day`` a
day, 14 features), a labels CSV (each label arrives 1 to 30 days after its prediction, with
``labelled_at``) and a reference CSV of ``--reference-rows``. The store is a SQLite file in a
temporary folder and Prefect its ephemeral local API, as for a user who runs driftwise alone.

* per window: ``monitor_model`` (a Prefect flow run: late-label rescoring of the last 7 days on,
  no HTML report, no alerts, no actions) on ``--windows`` consecutive daily windows, each as
  its daily run would see it (labels as of the window's end plus two hours), and after each,
  Evidently's ``Report([DataDriftPreset()])`` on the same window against the same reference, in
  the same process. The first window is a warm-up and not counted.
* backfill: ``backfill_model`` over ``--backfill-days`` days from the log's first day (the
  backfill's defaults: two windows at once, no reports; windows past the log are empty).

The flow's task timings are in Prefect's logs; ``--profile FILE`` writes cProfile stats of the
per-window runs.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ZONE = "UTC"
NUMERICAL = [
    "disbursed_amount",
    "asset_cost",
    "ltv",
    "age",
    "cns_score",
    "accounts",
    "overdue_accounts",
    "new_accounts_6m",
    "delinquent_accounts_6m",
    "credit_history_months",
    "inquiries",
]
CATEGORICAL = ["employment_type", "manufacturer", "branch"]
START = date(2025, 1, 1)


def applicants(rows: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    asset = np.round(rng.lognormal(11.2 + shift, 0.25, rows), 0)
    ltv = np.clip(rng.normal(75 + 10 * shift, 11, rows), 10, 95).round(2)
    return pd.DataFrame(
        {
            "disbursed_amount": np.round(asset * ltv / 100, 0),
            "asset_cost": asset,
            "ltv": ltv,
            "age": rng.integers(21, 70, rows),
            "cns_score": np.where(rng.random(rows) < 0.5, 0, rng.integers(300, 890, rows)),
            "accounts": rng.poisson(2.4, rows),
            "overdue_accounts": rng.poisson(0.2, rows),
            "new_accounts_6m": rng.poisson(0.4, rows),
            "delinquent_accounts_6m": rng.poisson(0.1, rows),
            "credit_history_months": rng.integers(0, 240, rows),
            "inquiries": rng.poisson(0.2, rows),
            "employment_type": rng.choice(
                ["Salaried", "Self employed", "unknown"], rows, p=[0.42, 0.55, 0.03]
            ),
            "manufacturer": rng.choice([f"m{i}" for i in range(11)], rows),
            "branch": rng.choice([f"b{i:03d}" for i in range(82)], rows),
        }
    )


def default_probability(frame: pd.DataFrame) -> np.ndarray:
    score = -1.5 + 0.03 * (frame["ltv"] - 75) + 0.5 * frame["overdue_accounts"]
    score -= 0.002 * (frame["cns_score"] - 400).clip(lower=0)
    return np.asarray(1 / (1 + np.exp(-score)))


def write_log(folder: Path, rows: int, per_day: int, reference_rows: int, seed: int) -> int:
    """The log, labels and reference as CSV files; returns the number of days the log spans."""
    rng = np.random.default_rng(seed)
    days = -(-rows // per_day)
    reference = applicants(reference_rows, rng)
    probability = default_probability(reference)
    reference["default_probability"] = probability.round(4)
    reference["predicted_default"] = (probability > 0.5).astype(int)
    reference["defaulted"] = (rng.random(reference_rows) < probability).astype(int)
    reference.to_csv(folder / "reference.csv", index=False)

    day_of_row = np.sort(rng.integers(0, days, rows))
    log = applicants(rows, rng, shift=0.0)
    drifting = day_of_row > days * 0.6
    log.loc[drifting, "ltv"] = (log.loc[drifting, "ltv"] + 4).clip(upper=95)
    stamps = pd.Timestamp(START) + pd.to_timedelta(day_of_row, unit="D")
    stamps += pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s")
    probability = default_probability(log)
    log.insert(0, "loan_id", np.arange(1, rows + 1))
    log.insert(0, "scored_at", stamps.strftime("%Y-%m-%d %H:%M:%S"))
    log["default_probability"] = probability.round(4)
    log["predicted_default"] = (probability > 0.5).astype(int)
    log.sort_values("scored_at").to_csv(folder / "log.csv", index=False)

    labelled = rng.random(rows) < 0.85
    arrived = stamps + pd.to_timedelta(rng.integers(1, 31, rows), unit="D")
    labels = pd.DataFrame(
        {
            "loan_id": log["loan_id"],
            "defaulted": (rng.random(rows) < probability).astype(int),
            "labelled_at": arrived.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )[labelled]
    labels.sort_values("labelled_at").to_csv(folder / "labels.csv", index=False)
    return days


SPEC = f"""
name: car-loan
task: binary
window: {{length: 1d, timezone: {ZONE}}}
sources:
  predictions: {{path: log.csv}}
  reference: {{path: reference.csv}}
  labels: {{path: labels.csv}}
columns:
  timestamp: scored_at
  id: loan_id
  numerical: {NUMERICAL}
  categorical: {CATEGORICAL}
  prediction: predicted_default
  probability: default_probability
  target: defaulted
  label_timestamp: labelled_at
"""


def prepare_store(home: Path) -> None:
    from monitoring_lib.settings import DriftwiseSettings
    from monitoring_lib.store.engine import make_engine, upgrade

    upgrade(make_engine(DriftwiseSettings(home=home).store_url))


def run_windows(
    folder: Path, spec_path: Path, first: int, count: int, profile: str | None
) -> list[tuple[float, float, float, float]]:
    """(driftwise wall, CPU, Evidently wall, CPU) seconds on ``count`` daily windows, taken in
    turn window by window so that the machine's load moves both alike: ``monitor_model`` as the
    window's daily run would see it, then ``DataDriftPreset`` on the same rows (features only,
    as driftwise tests them; its inputs already in memory, so only the report is timed)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from flows.monitor import MonitorParams, monitor_model

    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL)
    log = pd.read_csv(folder / "log.csv")
    reference = pd.read_csv(folder / "reference.csv")[NUMERICAL + CATEGORICAL]
    stamps = pd.to_datetime(log["scored_at"])
    times: list[tuple[float, float, float, float]] = []
    profiler = cProfile.Profile() if profile else None
    for offset in range(first, first + count):
        day = START + timedelta(days=offset)
        end = datetime(day.year, day.month, day.day) + timedelta(days=1)
        params = MonitorParams(
            spec_path=str(spec_path),
            window_date=day,
            labels_as_of=pd.Timestamp(end + timedelta(hours=2), tz=ZONE).to_pydatetime(),
            write_report=False,
            send_alerts=False,
            allow_actions=False,
        )
        started, cpu = time.perf_counter(), time.process_time()
        if profiler is not None and offset > first:
            profiler.enable()
        monitor_model(params)
        if profiler is not None:
            profiler.disable()
        driftwise = time.perf_counter() - started, time.process_time() - cpu

        current = log[(stamps >= pd.Timestamp(day)) & (stamps < pd.Timestamp(end))]
        started, cpu = time.perf_counter(), time.process_time()
        Report([DataDriftPreset()]).run(
            Dataset.from_pandas(current[NUMERICAL + CATEGORICAL], data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        times.append((*driftwise, time.perf_counter() - started, time.process_time() - cpu))
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    return times


def run_backfill(spec_path: Path, days: int) -> tuple[float, float]:
    from flows.backfill import BackfillParams, backfill_model

    params = BackfillParams(
        spec_path=str(spec_path),
        start=START,
        end=START + timedelta(days=days - 1),
        write_reports=False,
    )
    started, cpu = time.perf_counter(), time.process_time()
    backfill_model(params)
    return time.perf_counter() - started, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--per-day", type=int, default=165)
    parser.add_argument("--reference-rows", type=int, default=50_000)
    parser.add_argument("--windows", type=int, default=20, help="windows timed (plus a warm-up)")
    parser.add_argument("--first-day", type=int, default=60, help="day of the log to start at")
    parser.add_argument("--backfill-days", type=int, default=365, help="0: no backfill")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--profile", help="write cProfile stats of the per-window runs here")
    parser.add_argument("--out", help="also write the printed figures to this file")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="driftwise-small-"))
    os.environ["DRIFTWISE_HOME"] = str(work / "home")
    os.environ.setdefault("PREFECT_HOME", str(work / "prefect"))
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    warnings.filterwarnings("ignore")

    days = write_log(work, args.rows, args.per_day, args.reference_rows, args.seed)
    spec_path = work / "car-loan.yaml"
    spec_path.write_text(SPEC)
    prepare_store(work / "home")

    lines = [
        f"small windows: {args.rows} rows over {days} days (~{args.per_day} a day), "
        f"reference {args.reference_rows}, {len(NUMERICAL)} numerical + {len(CATEGORICAL)} "
        f"categorical features; load average at start {os.getloadavg()[0]:.2f}",
        f"commit {_commit()}; python {sys.version.split()[0]}",
    ]
    print(*lines, sep="\n", flush=True)
    count = args.windows + 1
    timed = run_windows(work, spec_path, args.first_day, count, args.profile)[1:]
    header = ("driftwise s", "cpu s", "Evidently s", "cpu s", "ratio wall", "ratio cpu")
    rows = [f"{'window':>10} " + " ".join(f"{h:>11}" for h in header)]
    for index, (wall, cpu, e_wall, e_cpu) in enumerate(timed):
        day = START + timedelta(days=args.first_day + 1 + index)
        figures = (wall, cpu, e_wall, e_cpu, e_wall / wall, e_cpu / cpu)
        rows.append(f"{day!s:>10} " + " ".join(f"{f:11.3f}" for f in figures))
    medians = [statistics.median(t[i] for t in timed) for i in range(4)]
    ratios = (medians[2] / medians[0], medians[3] / medians[1])
    rows.append(f"{'median':>10} " + " ".join(f"{f:11.3f}" for f in (*medians, *ratios)))
    rows.append(f"load average now {os.getloadavg()[0]:.2f}")
    print(*rows, sep="\n", flush=True)
    lines += rows
    if args.backfill_days:
        wall, cpu = run_backfill(spec_path, args.backfill_days)
        line = (
            f"backfill of {args.backfill_days} daily windows (the log spans {days}): {wall:.1f} s "
            f"wall ({wall / args.backfill_days:.3f} s a window), {cpu:.1f} s CPU in this process "
            f"(not counting Prefect's server process); load average now "
            f"{os.getloadavg()[0]:.2f}"
        )
        print(line, flush=True)
        lines.append(line)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
