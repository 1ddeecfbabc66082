"""One window evaluated locally (streamed) and with its profiling on a 2-worker Dask
LocalCluster: wall time and peak memory of every process, side by side.

    nice -n 10 .venv/bin/python benchmarks/bench_dask.py --rows 1000000 --cols 100 --ref-rows 100000

The data (bench_window's generator) is written once: the reference as one parquet file, the
window as ``--files`` parquet files (the parts the workers read). Each side then runs in a fresh
Python process, so the driver's peak RSS (``ru_maxrss``) is its own; each worker reports its own
peak before the cluster closes. "start s" is the cluster's start-up, not part of "wall s"."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from bench_window import DAY, REFERENCE, WINDOW, bench_spec, data_path, write_side


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_data(args: argparse.Namespace) -> None:
    """Reference as one file, the window split by row groups into ``--files`` files."""
    write_side(REFERENCE, args.ref_rows, args)
    write_side(WINDOW, args.rows, args)
    whole = pq.ParquetFile(data_path(args.workdir, WINDOW))
    folder = Path(args.workdir) / "window"
    folder.mkdir(exist_ok=True)
    groups = list(range(whole.num_row_groups))
    per_file = max(1, -(-len(groups) // args.files))
    for index, first in enumerate(range(0, len(groups), per_file)):
        table = whole.read_row_groups(groups[first : first + per_file])
        pq.write_table(table, folder / f"part-{index:03d}.parquet", row_group_size=args.chunk_rows)
    data_path(args.workdir, WINDOW).unlink()


def run_side(args: argparse.Namespace) -> dict[str, object]:
    """One side in this process: the window's evaluation, timed; the processes' peaks."""
    from monitoring_lib.pipeline.distributed import dask_client, evaluate_window_on_cluster
    from monitoring_lib.pipeline.streamed import evaluate_window_streamed
    from monitoring_lib.spec.window import ComputeSpec
    from monitoring_lib.windows import window_starting_on

    spec = bench_spec(
        args, "window/*.parquet", {"max_cells_in_memory": 1, "chunk_rows": args.chunk_rows}
    )
    artifacts = Path(args.workdir) / f"artifacts-{args.side}"
    window = window_starting_on(DAY, pd.Timedelta(days=1).to_pytimedelta(), "UTC")
    result: dict[str, object] = {"base_mb": _peak_mb()}
    if args.side == "local":
        started = time.perf_counter()
        evaluation = evaluate_window_streamed(spec, window, artifacts=artifacts)
        result["wall"] = time.perf_counter() - started
    else:
        started = time.perf_counter()
        with dask_client(ComputeSpec(mode="local-cluster", workers=args.workers)) as client:
            result["start"] = time.perf_counter() - started
            started = time.perf_counter()
            evaluation = evaluate_window_on_cluster(spec, window, client, artifacts=artifacts)
            result["wall"] = time.perf_counter() - started
            peaks = client.run(_peak_mb)
            result["workers_mb"] = [peaks[address] for address in sorted(peaks)]
    result["driver_mb"] = _peak_mb()
    result["records"] = len(evaluation.records)
    result["timings"] = evaluation.timings
    return result


def _cell(value: object, suffix: str = "") -> str:
    return f"{value:,.1f}{suffix}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="window rows")
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--ref-rows", type=int, help="reference rows (default min(rows, 1M))")
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--files", type=int, default=4, help="parquet files of the window")
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="keep the generated parquet files here")
    parser.add_argument("--side", choices=("local", "dask"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.ref_rows = args.ref_rows or min(args.rows, 1_000_000)
    if args.side:
        print(json.dumps(run_side(args)))
        return
    args.workdir = str(args.workdir or tempfile.mkdtemp(prefix="bench-dask-"))
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    if not (Path(args.workdir) / "window").is_dir():
        write_data(args)
    results = {}
    for side in ("local", "dask"):
        command = [sys.executable, __file__, *sys.argv[1:], "--workdir", args.workdir]
        command += ["--side", side]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results[side] = json.loads(done.stdout.strip().splitlines()[-1])
    local, dask = results["local"], results["dask"]
    print(f"{args.rows:,} x {args.cols} (reference {args.ref_rows:,}), {args.files} files, "
          f"chunks of {args.chunk_rows:,} rows, {args.workers} Dask workers")  # fmt: skip
    print(f"{'':24} {'local':>14} {'Dask':>14}")
    print(f"{'wall s':24} {_cell(local['wall']):>14} {_cell(dask['wall']):>14}")
    print(f"{'cluster start s':24} {'-':>14} {_cell(dask['start']):>14}")
    print(f"{'driver peak MB':24} {_cell(local['driver_mb']):>14} {_cell(dask['driver_mb']):>14}")
    for index, peak in enumerate(dask["workers_mb"]):
        print(f"{f'worker {index} peak MB':24} {'-':>14} {_cell(peak):>14}")
    print(f"{'records':24} {local['records']:>14} {dask['records']:>14}")
    print(f"{'profile s':24} {_cell(local['timings']['profile']):>14} "
          f"{_cell(dask['timings']['profile']):>14}")  # fmt: skip


if __name__ == "__main__":
    main()
