"""Wall time and peak memory of each monitoring stage on one window, next to Evidently.

    .venv/bin/python benchmarks/bench_window.py --rows 1000000 --cols 100 --out FILE

The window is never held whole by the chunked stages: it is a callable that regenerates the
same chunks from the seed, as a window read in batches from storage would be. Every stage runs
in a fresh Python process, so its peak RSS (``ru_maxrss``) is its own and no stage inherits
another's memory. "gen s" is the time spent generating chunks inside a stage (interleaved with
the work for chunked stages); "net s" = wall - gen is the stage's own cost. "cpu s" is the
stage's CPU time (generation included; profiling workers once they exit), steadier than wall
time on a loaded machine. In-memory stages build their frames before the clock starts, but
their peak includes those frames. "tree MB" (profiling with --workers > 1) is the largest
sampled RSS total of the stage and its workers.
"""

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
from pathlib import Path

import numpy as np
import pandas as pd
from bench_profiling import TreePeak, chunk_sizes

from monitoring_lib.records import Metric, MetricRecord, MetricStatus

MB = 1024 * 1024
CARDINALITIES = (5, 12, 30, 60, 150)
"""Categories per categorical column, cycled: moderate cardinality, as codes and segments are."""
REFERENCE, WINDOW = 0, 1
STAGES = (
    "reference profile",
    "window profile",
    "data quality",
    "drift chunked",
    "drift in memory",
    "evidently preset",
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


class ChunkSource:
    """A side's chunks as a re-callable generator, timing the generation it does."""

    def __init__(self, side: int, rows: int, args: argparse.Namespace) -> None:
        self.side, self.sizes, self.args = side, chunk_sizes(rows, args.chunk_rows), args
        self.generation_s = self.generation_cpu_s = 0.0

    def __call__(self) -> Iterator[pd.DataFrame]:
        for index, rows in enumerate(self.sizes):
            started, cpu_started = time.perf_counter(), time.process_time()
            chunk = make_chunk(self.side, index, rows, self.args.cols, self.args.seed)
            self.generation_s += time.perf_counter() - started
            self.generation_cpu_s += time.process_time() - cpu_started
            yield chunk

    def whole(self) -> pd.DataFrame:
        return pd.concat(self(), ignore_index=True)


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


def _profile_stage(side: int, args: argparse.Namespace) -> tuple[Callable[[], str], ChunkSource]:
    from monitoring_lib.profiling import profile_chunks, write_view

    source = ChunkSource(side, args.ref_rows if side == REFERENCE else args.rows, args)
    target = Path(args.workdir) / ("reference.bin" if side == REFERENCE else "window.bin")

    def run() -> str:
        view = profile_chunks(source(), workers=args.workers)
        write_view(view, target)
        return f"workers={args.workers}"

    return run, source


def _quality_stage(args: argparse.Namespace) -> Callable[[], str]:
    from monitoring_lib.data_quality import check_constraints, derive_constraints
    from monitoring_lib.profiling import read_view

    numerical, categorical = column_names(args.cols)
    reference = read_view(Path(args.workdir) / "reference.bin")
    window = read_view(Path(args.workdir) / "window.bin")

    def run() -> str:
        rules = derive_constraints(reference, numerical=numerical, categorical=categorical)
        records = check_constraints(window, rules)
        failed = sum(r.status == "failed" for r in records)
        return f"{len(records)} checks, {failed} failed"

    return run


def _drift_stage(args: argparse.Namespace, chunked: bool) -> tuple[Callable[[], str], ChunkSource]:
    from monitoring_lib.drift import compute_drift, compute_drift_chunked

    numerical, categorical = column_names(args.cols)
    reference = ChunkSource(REFERENCE, args.ref_rows, args).whole()
    source = ChunkSource(WINDOW, args.rows, args)
    current = None if chunked else source.whole()
    source.generation_s = source.generation_cpu_s = 0.0

    def run() -> str:
        if current is None:
            records = compute_drift_chunked(
                reference, source, numerical=numerical, categorical=categorical
            )
        else:
            records = compute_drift(
                reference, current, numerical=numerical, categorical=categorical
            )
        return f"{_drifted(records)} columns drifted"

    return run, source


def run_stage(args: argparse.Namespace) -> dict[str, object]:
    """Build one stage's inputs, then time it; returns the row of the table as JSON-able data."""
    import monitoring_lib.profiling  # noqa: F401  (imports whylogs so "base" includes it)

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    source: ChunkSource | None = None
    if args.stage in ("reference profile", "window profile"):
        run, source = _profile_stage(REFERENCE if args.stage.startswith("ref") else WINDOW, args)
    elif args.stage == "data quality":
        run = _quality_stage(args)
    elif args.stage == "evidently preset":
        reference = ChunkSource(REFERENCE, args.ref_rows, args).whole()
        current = ChunkSource(WINDOW, args.rows, args).whole()
        run = lambda: _run_evidently(reference, current, args.cols)  # noqa: E731
    else:
        run, source = _drift_stage(args, chunked=args.stage == "drift chunked")
    with TreePeak() if args.workers > 1 and "profile" in args.stage else _NoTree() as tree:
        started, cpu_before = time.perf_counter(), _cpu_seconds()
        note = run()
        wall, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
    return {
        "wall": wall,
        "cpu": cpu,
        "gen": source.generation_s if source else 0.0,
        "gen_cpu": source.generation_cpu_s if source else 0.0,
        "base": base,
        "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "tree": tree.peak / MB if tree.peak else None,
        "note": note,
    }


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
    stages = list(STAGES[:4])
    if args.rows <= 1_000_000:
        stages.append("drift in memory")
    limit = {"no": 0, "auto": 50_000_000, "yes": 1_000_000 * 10_000}[args.evidently]
    if args.rows <= 1_000_000 and args.rows * args.cols <= limit:
        stages.append("evidently preset")
    return [stage for stage in stages if not args.only or stage in args.only]


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
    wall, gen = float(result["wall"]), float(result["gen"])  # type: ignore[arg-type]
    tree = f"{result['tree']:>8.0f}" if result["tree"] else f"{'-':>8}"
    cpu = f"{result['cpu']:>8.1f}" if "cpu" in result else f"{'-':>8}"
    return (
        f"{stage:<18}{rows:>11,}{cols:>5}{wall:>9.1f}{gen:>8.1f}{wall - gen:>9.1f}{cpu}"
        f"{result['base']:>8.0f}{result['peak']:>9.0f}{tree}  {result['note']}"
    )


def _ratios(results: dict[str, dict[str, object]]) -> list[str]:
    evidently = results.get("evidently preset", {})
    if "wall" not in evidently:
        return ["Evidently did not run at this size: no ratio."]
    lines = []
    for stage in ("drift chunked", "drift in memory"):
        ours = results.get(stage, {})
        if "wall" in ours:
            net = float(ours["wall"]) - float(ours["gen"])  # type: ignore[arg-type]
            time_ratio = float(evidently["wall"]) / net  # type: ignore[arg-type]
            memory_ratio = float(evidently["peak"]) / float(ours["peak"])  # type: ignore[arg-type]
            cpu_ratio = ""
            if "cpu" in ours and "cpu" in evidently:
                ours_cpu = float(ours["cpu"]) - float(ours.get("gen_cpu", 0.0))  # type: ignore[arg-type]
                cpu_ratio = f", {float(evidently['cpu']) / ours_cpu:.1f}x the CPU time (net)"  # type: ignore[arg-type]
            lines.append(
                f"Evidently / {stage}: {time_ratio:.1f}x the wall time (net){cpu_ratio}, "
                f"{memory_ratio:.1f}x the peak RSS"
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
        f"{'stage':<18}{'rows':>11}{'cols':>5}{'wall s':>9}{'gen s':>8}{'net s':>9}{'cpu s':>8}"
        f"{'base MB':>8}{'peak MB':>9}{'tree MB':>8}  result",
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
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
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
    with tempfile.TemporaryDirectory(prefix="bench-window-") as workdir:
        for stage in wanted_stages(args):
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
