"""Wall time and peak memory of each monitoring stage on one window, next to Evidently.

    .venv/bin/python benchmarks/bench_window.py --rows 1000000 --cols 100 --out FILE

The data is generated once per run into two parquet files (reference and window, a row group
per chunk; "write data" is not a monitoring stage). Every stage then runs in a fresh Python
process that reads those files, so its peak RSS (``ru_maxrss``) is its own. "read s" is the
part of a streaming stage's wall time spent reading parquet batches of the window; "input MB" is
the process's peak before the clock starts (in-memory stages load both frames first, and their
peak includes them); "cpu s" is the stage's CPU time (profiling workers once they exit), steadier
than wall time on a loaded machine; "tree MB" (profiling with --workers > 1) is the largest
sampled RSS total of the stage and its workers."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from bench_profiling import TreePeak, chunk_sizes

from monitoring_lib.records import Metric, MetricRecord, MetricStatus

if TYPE_CHECKING:
    from monitoring_lib.spec.monitor import MonitorSpec

MB = 1024 * 1024
CARDINALITIES = (5, 12, 30, 60, 150)
"""Categories per categorical column, cycled: moderate cardinality, as codes and segments are."""
REFERENCE, WINDOW = 0, 1
DAY = date(2024, 5, 1)
"""The window's day: its rows' timestamps spread evenly over it."""
STAGES = (
    "reference profile",
    "window profile",
    "data quality",
    "drift streamed",
    "drift in memory",
    "evidently preset",
    "monitor run",
)


def column_names(cols: int) -> tuple[list[str], list[str]]:
    """About 70% numerical and 30% categorical column names."""
    n_categorical = max(1, round(cols * 0.3))
    numerical = [f"n{i}" for i in range(cols - n_categorical)]
    return numerical, [f"c{j}" for j in range(n_categorical)]


def _numerical(i: int, rng: np.random.Generator, rows: int, shifted: bool) -> np.ndarray:
    """Cycles through measurement, amount (cents), count and ratio-like shapes."""
    shift = 0.2 if shifted and i % 10 == 0 else 0.0  # every tenth column drifts in the window
    kind = i % 4
    if kind == 0:
        values = rng.normal(50.0 + 10.0 * shift, 10.0, rows)
    elif kind == 1:
        values = np.round(rng.lognormal(3.0 + shift, 1.0, rows), 2)
    elif kind == 2:
        values = rng.poisson(20.0 * (1 + shift), rows).astype(np.float64)
    else:
        values = rng.uniform(shift, 1.0 + shift, rows)
    if i % 7 == 3:  # a few columns have ~1% missing values
        values[rng.random(rows) < 0.01] = np.nan
    return values


def _categorical(j: int, rng: np.random.Generator, rows: int, shifted: bool) -> np.ndarray:
    """Zipf-like category frequencies, fixed per column so chunks share one distribution."""
    cardinality = CARDINALITIES[j % len(CARDINALITIES)]
    weights = 1.0 / np.arange(1, cardinality + 1) ** 1.1
    if shifted and j % 5 == 0:  # every fifth categorical column drifts in the window
        weights[-cardinality // 3 :] *= 2.0
    labels = np.array([f"c{j}_v{k}" for k in range(cardinality)] + [None], dtype=object)
    codes = np.searchsorted(np.cumsum(weights / weights.sum()), rng.random(rows))
    codes = np.minimum(codes, cardinality - 1)
    if j % 5 == 2:  # ~0.5% missing
        codes[rng.random(rows) < 0.005] = cardinality
    return labels[codes]


def make_chunk(side: int, index: int, rows: int, cols: int, seed: int) -> pd.DataFrame:
    """Chunk ``index`` of the reference (side 0) or window (side 1), reproducible on its own."""
    rng = np.random.default_rng([seed, side, index])
    numerical, categorical = column_names(cols)
    data = {n: _numerical(i, rng, rows, side == WINDOW) for i, n in enumerate(numerical)}
    data |= {c: _categorical(j, rng, rows, side == WINDOW) for j, c in enumerate(categorical)}
    return pd.DataFrame(data)


def data_path(workdir: str, side: int) -> Path:
    return Path(workdir) / ("reference.parquet" if side == REFERENCE else "window.parquet")


def write_side(side: int, rows: int, args: argparse.Namespace) -> None:
    """Generate a side chunk by chunk into one parquet file (a row group per chunk)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer, first_id = None, 0
    for index, size in enumerate(chunk_sizes(rows, args.chunk_rows)):
        chunk = make_chunk(side, index, size, args.cols, args.seed)
        chunk["score"] = 1.0 / (1.0 + np.exp(-(chunk["n0"].to_numpy() - 50.0) / 10.0))
        if side == WINDOW:  # what a prediction log carries besides the features
            chunk["id"] = np.arange(first_id, first_id + size, dtype=np.int64)
            offsets = (chunk["id"].to_numpy() * (86_400_000_000 // max(rows, 1))).astype(np.int64)
            chunk["ts"] = pd.Timestamp(DAY, tz="UTC") + pd.to_timedelta(offsets, unit="us")
            first_id += size
        table = pa.Table.from_pandas(chunk, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(data_path(args.workdir, side), table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


class ParquetSide:
    """A side read from its parquet file: row chunks of the asked columns, as driftwise reads
    a window from storage (parquet reads only the columns asked for)."""

    def __init__(self, side: int, args: argparse.Namespace) -> None:
        import pyarrow.dataset as pads

        self.dataset = pads.dataset(data_path(args.workdir, side), format="parquet")
        self.chunk_rows = args.chunk_rows
        self.read_s = 0.0

    @property
    def rows(self) -> int:
        return int(self.dataset.count_rows())

    def __call__(self, columns: Sequence[str] | None = None) -> Iterator[pd.DataFrame]:
        wanted = None if columns is None else [c for c in columns if c in self.dataset.schema.names]
        batches = self.dataset.to_batches(
            columns=wanted, batch_size=self.chunk_rows, batch_readahead=1, fragment_readahead=1
        )
        while True:
            started = time.perf_counter()
            batch = next(batches, None)
            frame = None if batch is None else batch.to_pandas()
            self.read_s += time.perf_counter() - started
            if frame is None:
                return
            yield frame

    def whole(self, columns: Sequence[str]) -> pd.DataFrame:
        return self.dataset.to_table(columns=list(columns)).to_pandas()


def _drifted(records: Sequence[MetricRecord]) -> int:
    return sum(
        r.metric == Metric.DRIFT_SCORE and r.status is MetricStatus.DRIFT and bool(r.column)
        for r in records
    )


def _run_evidently(reference: pd.DataFrame, current: pd.DataFrame, cols: int) -> str:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numerical, categorical = column_names(cols)
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    for metric in snapshot.dict()["metrics"]:
        if str(metric["config"].get("type", "")).endswith(":DriftedColumnsCount"):
            return f"{int(metric['value']['count'])} columns drifted"
    return "drifted count not found"


def _profile_stage(side: int, args: argparse.Namespace) -> tuple[Callable[[], str], ParquetSide]:
    from monitoring_lib.metrics.profiling import profile_chunks, write_view
    from monitoring_lib.pipeline.streamed import column_groups

    source = ParquetSide(side, args)
    target = Path(args.workdir) / ("reference.bin" if side == REFERENCE else "window.bin")
    numerical, categorical = column_names(args.cols)
    groups = column_groups([*numerical, *categorical], args.chunk_rows, args.budget_mb)

    def run() -> str:
        chunks = (chunk for group in groups for chunk in source(group))
        view = profile_chunks(chunks, workers=args.workers)
        write_view(view, target)
        return f"workers={args.workers}, {len(groups)} column groups (budget {args.budget_mb:g} MB)"

    return run, source


def _quality_stage(args: argparse.Namespace) -> Callable[[], str]:
    from monitoring_lib.metrics.data_quality import check_constraints, derive_constraints
    from monitoring_lib.metrics.profiling import read_view

    numerical, categorical = column_names(args.cols)
    reference = read_view(Path(args.workdir) / "reference.bin")
    window = read_view(Path(args.workdir) / "window.bin")

    def run() -> str:
        rules = derive_constraints(reference, numerical=numerical, categorical=categorical)
        records = check_constraints(window, rules)
        failed = sum(r.status == "failed" for r in records)
        return f"{len(records)} checks, {failed} failed"

    return run


def _streamed_stage(args: argparse.Namespace) -> tuple[Callable[[], str], ParquetSide]:
    from monitoring_lib.metrics.drift.streamed import compute_drift_streamed, plan_groups

    numerical, categorical = column_names(args.cols)
    reference, window = ParquetSide(REFERENCE, args), ParquetSide(WINDOW, args)

    def run() -> str:
        ref_rows, rows = reference.rows, window.rows
        records = compute_drift_streamed(
            reference,
            window,
            reference_rows=ref_rows,
            window_rows=rows,
            column_types=pd.DataFrame(),  # no prediction or target to type
            numerical=numerical,
            categorical=categorical,
            budget_mb=args.budget_mb,
        )
        plan = plan_groups([0] * args.cols, ref_rows, rows, args.budget_mb)  # type: ignore[list-item]
        return (
            f"{_drifted(records)} columns drifted; {plan.mode}, {len(plan.groups)} groups, "
            f"budget {args.budget_mb:g} MB"
        )

    return run, window


def bench_spec(
    args: argparse.Namespace, predictions: str, memory: dict[str, object]
) -> MonitorSpec:
    """The benchmark's monitor spec over the generated files (``predictions``: their path)."""
    from monitoring_lib.spec.monitor import parse_spec

    numerical, categorical = column_names(args.cols)
    report_rows = getattr(args, "report_rows", None)
    return parse_spec(
        {
            "name": "bench",
            "task": "binary",
            "window": {"length": "1d", "timezone": "UTC"},
            "sources": {
                "predictions": {"path": predictions},
                "reference": {"path": "reference.parquet"},
            },
            "columns": {
                "timestamp": "ts",
                "id": "id",
                # the score is a probability: as a "prediction" every distinct value would be
                # a class of its own to the confidence stage (100k class-share records)
                "probability": "score",
                "numerical": numerical,
                "categorical": categorical,
            },
            "memory": memory,
            **({"report": {"sample_rows": report_rows}} if report_rows else {}),
        },
        base_dir=Path(args.workdir),
    )


def _monitor_stage(args: argparse.Namespace) -> Callable[[], str]:
    """A whole monitor run's evaluation of the window, as the flow makes it above the spec's
    ``memory.max_cells_in_memory``: profiles, checks, drift, HTML report (no store, no labels)."""
    from monitoring_lib.pipeline.streamed import evaluate_window_streamed
    from monitoring_lib.windows import window_starting_on

    spec = bench_spec(
        args, "window.parquet", {"chunk_rows": args.chunk_rows, "budget_mb": args.budget_mb}
    )
    window = window_starting_on(DAY, pd.Timedelta(days=1).to_pytimedelta(), "UTC")

    def run() -> str:
        evaluation = evaluate_window_streamed(
            spec, window, artifacts=Path(args.workdir) / "artifacts", profile_workers=args.workers
        )
        stages = ", ".join(f"{k} {v:.1f}" for k, v in evaluation.timings.items())
        return f"{_drifted(evaluation.records)} columns drifted; seconds per stage: {stages}"

    return run


def _in_memory_stage(args: argparse.Namespace) -> Callable[[], str]:
    from monitoring_lib.metrics.drift.memory import compute_drift

    numerical, categorical = column_names(args.cols)
    reference = ParquetSide(REFERENCE, args).whole([*numerical, *categorical])
    current = ParquetSide(WINDOW, args).whole([*numerical, *categorical])

    def run() -> str:
        records = compute_drift(reference, current, numerical=numerical, categorical=categorical)
        return f"{_drifted(records)} columns drifted"

    return run


def run_stage(args: argparse.Namespace) -> dict[str, object]:
    """Build one stage's inputs, then time it; returns the row of the table as JSON-able data."""
    import monitoring_lib.metrics.profiling  # noqa: F401  (imports whylogs so "base" includes it)

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    source: ParquetSide | None = None
    if args.stage == "write data":
        run = lambda: _write_data(args)  # noqa: E731
    elif args.stage in ("reference profile", "window profile"):
        run, source = _profile_stage(REFERENCE if args.stage.startswith("ref") else WINDOW, args)
    elif args.stage == "data quality":
        run = _quality_stage(args)
    elif args.stage == "evidently preset":
        features = [name for names in column_names(args.cols) for name in names]
        reference = ParquetSide(REFERENCE, args).whole(features)
        current = ParquetSide(WINDOW, args).whole(features)
        run = lambda: _run_evidently(reference, current, args.cols)  # noqa: E731
    elif args.stage == "monitor run":
        run = _monitor_stage(args)
    elif args.stage == "drift streamed":
        run, source = _streamed_stage(args)
    else:
        run = _in_memory_stage(args)
    frames = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with TreePeak() if args.workers > 1 and "profile" in args.stage else _NoTree() as tree:
        started, cpu_before = time.perf_counter(), _cpu_seconds()
        note = run()
        wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    return {
        "wall": wall,
        "cpu": cpu,
        "read": source.read_s if source else 0.0,
        "base": base,
        "inputs": frames,
        "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tree": tree.peak / MB if tree.peak else None,
        "note": note,
    }


def _have_data(workdir: str) -> bool:
    return all(data_path(workdir, side).is_file() for side in (REFERENCE, WINDOW))


def _write_data(args: argparse.Namespace) -> str:
    write_side(REFERENCE, args.ref_rows, args)
    write_side(WINDOW, args.rows, args)
    sizes = [data_path(args.workdir, side).stat().st_size / MB for side in (REFERENCE, WINDOW)]
    return f"parquet: reference {sizes[0]:,.0f} MB, window {sizes[1]:,.0f} MB"


def _cpu_seconds() -> float:
    """CPU of this process and its finished children: unlike wall time, barely moved by load."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _NoTree:
    peak = 0

    def __enter__(self) -> _NoTree:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def wanted_stages(args: argparse.Namespace) -> list[str]:
    """Evidently by default up to 50M cells (1M x 100 takes ~10 min); never above 1M rows."""
    stages = ["write data", *STAGES[:4]]
    if args.rows <= 1_000_000:
        stages.append("drift in memory")
    limit = {"no": 0, "auto": 50_000_000, "yes": 1_000_000 * 10_000}[args.evidently]
    if args.rows <= 1_000_000 and args.rows * args.cols <= limit:
        stages.append("evidently preset")
    stages.append("monitor run")
    return [s for s in stages if s == "write data" or not args.only or s in args.only]


def _stage_result(stage: str, argv: list[str], workdir: str) -> dict[str, object]:
    command = [sys.executable, __file__, *argv, "--stage", stage, "--workdir", workdir]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        return {"error": f"exit {done.returncode}: " + " | ".join(tail)}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _row(stage: str, rows: int, cols: int, result: dict[str, object]) -> str:
    if "error" in result:
        return f"{stage:<18}{rows:>11,}{cols:>5}  FAILED {result['error']}"
    figures = [float(result[k]) for k in ("wall", "read", "cpu", "base", "inputs", "peak")]  # type: ignore[arg-type]
    tree = f"{result['tree']:>8.0f}" if result["tree"] else f"{'-':>8}"
    wall, read, cpu, base, inputs, peak = figures
    return (
        f"{stage:<18}{rows:>11,}{cols:>5}{wall:>9.1f}{read:>8.1f}{cpu:>8.1f}"
        f"{base:>8.0f}{inputs:>9.0f}{peak:>9.0f}{tree}  {result['note']}"
    )


def _ratios(results: dict[str, dict[str, object]]) -> list[str]:
    evidently = results.get("evidently preset", {})
    if "wall" not in evidently:
        return ["Evidently did not run at this size: no ratio."]
    lines = []
    for stage in ("drift streamed", "drift in memory", "monitor run"):
        ours = results.get(stage, {})
        if "wall" in ours:
            time_ratio = float(evidently["wall"]) / float(ours["wall"])  # type: ignore[arg-type]
            cpu_ratio = float(evidently["cpu"]) / float(ours["cpu"])  # type: ignore[arg-type]
            memory_ratio = float(evidently["peak"]) / float(ours["peak"])  # type: ignore[arg-type]
            lines.append(
                f"Evidently / {stage}: {time_ratio:.1f}x the wall time, {cpu_ratio:.1f}x the CPU "
                f"time, {memory_ratio:.1f}x the peak RSS"
            )
    return lines


def _header(args: argparse.Namespace) -> list[str]:
    load = os.getloadavg()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        f"window {args.rows:,} x {args.cols}, reference {args.ref_rows:,} x {args.cols}"
        f"{' (smaller than the window)' if args.ref_rows < args.rows else ''}, "
        f"chunks of {args.chunk_rows:,} rows, seed {args.seed}",
        f"machine: {os.cpu_count()} cores, {memory:.0f} GiB; load average at start "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"{'stage':<18}{'rows':>11}{'cols':>5}{'wall s':>9}{'read s':>8}{'cpu s':>8}"
        f"{'base MB':>8}{'input MB':>9}{'peak MB':>9}{'tree MB':>8}  result",
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="window rows")
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--ref-rows", type=int, help="reference rows (default min(rows, 1M))")
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--workers", type=int, default=1, help="processes for profiling")
    parser.add_argument("--evidently", choices=["auto", "yes", "no"], default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the printed table here")
    parser.add_argument(
        "--only", type=lambda text: text.split(","), help="comma-separated stages to run"
    )
    parser.add_argument(
        "--budget-mb", type=float, default=512, help="drift streamed's memory budget"
    )
    parser.add_argument(
        "--report-rows", type=int, help="monitor run's report.sample_rows (default: the spec's)"
    )
    parser.add_argument("--workdir", type=Path, help="keep the generated parquet files here")
    parser.add_argument(
        "--reuse-data", action="store_true", help="use the parquet files already in --workdir"
    )
    parser.add_argument("--stage", choices=("write data", *STAGES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ref_rows is None:
        args.ref_rows = min(args.rows, 1_000_000)
    return args


def main() -> None:
    args = parse_args()
    if args.stage:
        print(json.dumps(run_stage(args)))
        return
    lines = _header(args)
    print("\n".join(lines), flush=True)
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-window-") as scratch:
        workdir = str(args.workdir or scratch)
        for stage in wanted_stages(args):
            if stage == "write data" and args.reuse_data and _have_data(workdir):
                continue
            results[stage] = _stage_result(stage, sys.argv[1:], workdir)
            rows = args.ref_rows if stage == "reference profile" else args.rows
            lines.append(_row(stage, rows, args.cols, results[stage]))
            print(lines[-1], flush=True)
    lines += _ratios(results)
    print("\n".join(lines[-len(_ratios(results)) :]), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
