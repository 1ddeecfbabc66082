"""Wall time and peak memory of single-pass versus chunked whylogs profiling.

Each mode runs in a fresh Python process, so one mode's peak memory cannot hide another's:

    .venv/bin/python benchmarks/bench_profiling.py --rows 1000000 --cols 50 --chunk-rows 100000

``--versus-whylogs`` instead times, side by side in one process and on the same frames, plain
``why.log(df)`` (whylogs' default schema), whylogs' own ``DatasetProfile`` on driftwise's schema
and prepared frame (what ``profile_frame`` ran before its vectorised path: the same profile), and
``profile_frame`` (see ``versus_whylogs``):

    .venv/bin/python benchmarks/bench_profiling.py --versus-whylogs --workers 2

The single pass profiles one frame holding every row. The chunked pass builds chunks one at a
time, as a window read in batches would be, so its peak follows the chunk size. Data generation
is timed separately and is included in the chunked wall time (it is interleaved there).

CPU time is the main process's own: it excludes worker processes and includes the ~5 s import
of whylogs, which wall time does not. "base" is the memory after importing the libraries and
before any data. "peak" is the main process's high-water mark (``ru_maxrss``); "tree" is the
largest total RSS of the process and all its descendants (workers), sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MIB = 1024 * 1024
CATEGORIES = np.array([f"category-{i}" for i in range(20)], dtype=object)


def make_chunk(index: int, rows: int, cols: int, seed: int) -> pd.DataFrame:
    """80% float, 10% int and 10% string columns; chunk ``index`` is reproducible on its own."""
    rng = np.random.default_rng([seed, index])
    n_int = n_str = max(1, cols // 10)
    n_float = max(0, cols - n_int - n_str)
    columns: dict[str, object] = {f"f{i}": rng.normal(size=rows) for i in range(n_float)}
    columns |= {f"i{i}": rng.integers(0, 100, rows) for i in range(n_int)}
    columns |= {f"s{i}": CATEGORIES[rng.integers(0, len(CATEGORIES), rows)] for i in range(n_str)}
    return pd.DataFrame(columns)


def chunk_sizes(rows: int, chunk_rows: int) -> list[int]:
    return [min(chunk_rows, rows - start) for start in range(0, rows, chunk_rows)]


def process_tree(root: int) -> set[int]:
    """``root`` and all its live descendants, read from /proc."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue  # the process ended while we looked
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    return tree


def tree_rss_bytes(root: int) -> int:
    """Total resident memory of ``root`` and all its descendants, read from /proc."""
    total = 0
    for pid in process_tree(root):
        try:
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        total += pages * os.sysconf("SC_PAGE_SIZE")
    return total


class TreePeak:
    """Samples the process tree's RSS in a background thread and keeps the largest total."""

    def __init__(self, interval: float = 0.05) -> None:
        self.peak, self._interval, self._stop = 0, interval, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(os.getpid()))
            self._stop.wait(self._interval)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_mode(args: argparse.Namespace) -> dict[str, object]:
    from monitoring_lib.metrics.profiling import profile_chunks, profile_frame

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # interpreter + libraries
    sizes = chunk_sizes(args.rows, args.chunk_rows)
    generated = 0.0

    def chunks() -> Iterator[pd.DataFrame]:
        nonlocal generated
        for index, rows in enumerate(sizes):
            started = time.perf_counter()
            chunk = make_chunk(index, rows, args.cols, args.seed)
            generated += time.perf_counter() - started
            yield chunk

    with TreePeak() as tree:
        started = time.perf_counter()
        if args.mode == "single":
            whole = pd.concat(chunks(), ignore_index=True)
            generated = time.perf_counter() - started
            view = profile_frame(whole)
        else:
            view = profile_chunks(chunks(), workers=args.workers)
        wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    counted = view.get_column("f0").get_metric("counts").n.value
    assert counted == args.rows, (counted, args.rows)
    return {
        "mode": args.mode if args.mode == "single" else f"chunked x{args.workers}",
        "wall_s": round(wall, 2),
        "generation_s": round(generated, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "baseline_mib": round(baseline / 1024),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "tree_peak_mib": round(tree.peak / MIB),
    }


SHAPES = {
    "200k x 10 floats": (200_000, 10, "f"),
    "200k x 5 strings": (200_000, 5, "s"),
    "100k x 50 mixed": (100_000, 50, "m"),
    "1M x 100 mixed": (1_000_000, 100, "m"),
}


def shaped_frame(rows: int, cols: int, kind: str, seed: int) -> pd.DataFrame:
    """Only floats, only strings (20 categories), or :func:`make_chunk`'s 80/10/10 mix."""
    if kind == "m":
        return make_chunk(0, rows, cols, seed)
    rng = np.random.default_rng(seed)
    if kind == "f":
        return pd.DataFrame({f"f{i}": rng.normal(size=rows) for i in range(cols)})
    return pd.DataFrame({f"s{i}": CATEGORIES[rng.integers(0, 20, rows)] for i in range(cols)})


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root`` and its live descendants, with the children each has reaped.

    Profiling workers are children of the forkserver, not of this process, so ``RUSAGE_CHILDREN``
    would miss them; /proc counts them while they live and in the forkserver once they exit.
    """
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        total += sum(int(value) for value in fields[11:15]) / tick  # utime stime cutime cstime
    return total


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    cpu, started = tree_cpu_seconds(os.getpid()), time.perf_counter()
    run()
    return time.perf_counter() - started, tree_cpu_seconds(os.getpid()) - cpu


def _warm_profiler(workers: int, df: pd.DataFrame) -> Any:
    """A profiler whose worker processes have answered once (their first start is not timed)."""
    from monitoring_lib.metrics.profiling.workers import ColumnGroupProfiler

    profiler = ColumnGroupProfiler(workers, start_after_cells=0, min_shared_cells=0)
    small = df.iloc[:100]
    deadline = time.monotonic() + 120
    while profiler.groups_in_workers == 0 and time.monotonic() < deadline:
        profiler.profile(small)
    return profiler


def versus_whylogs(args: argparse.Namespace) -> None:
    """Plain whylogs and driftwise's profile_frame on the same frames, wall and CPU seconds."""
    import whylogs as why  # called only after monitoring_lib.metrics.profiling set its alias
    from whylogs.core import DatasetProfile

    from monitoring_lib.metrics import profiling
    from monitoring_lib.metrics.profiling import single
    from monitoring_lib.metrics.profiling.workers import GROUPS_PER_PROCESS, column_groups

    def whylogs_driftwise_schema(df: pd.DataFrame) -> None:
        profile = DatasetProfile(schema=single._uniform_schema())
        profile.track(pandas=single._whylogs_ready(df))

    print(f"{'frame':<18}{'mode':<34}{'wall s':>8}{'cpu s':>8}  why.log/this: wall  cpu")
    for label in args.shapes:
        df = shaped_frame(*SHAPES[label], seed=args.seed)
        modes: dict[str, Callable[[], object]] = {
            "why.log(df), whylogs as shipped": lambda df=df: why.log(df),
            "whylogs, driftwise schema": lambda df=df: whylogs_driftwise_schema(df),
            "profile_frame, 1 process": lambda df=df: profiling.profile_frame(df),
        }
        if args.workers > 1:
            with _warm_profiler(args.workers, df) as profiler:
                mode = f"profile_frame, {args.workers} processes (warm)"
                modes[mode] = lambda df=df, p=profiler: p.profile(df)
                before = profiler.groups_in_workers
                _report(label, modes)
                shared = profiler.groups_in_workers - before
                groups = len(column_groups(df, GROUPS_PER_PROCESS * args.workers))
                print(f"{'':<18}({shared} of {groups} column groups done by workers)")
        else:
            _report(label, modes)


def _report(label: str, modes: dict[str, Callable[[], object]]) -> None:
    """One line per mode; the ratios compare it with the first mode (plain why.log)."""
    base: tuple[float, float] | None = None
    for mode, run in modes.items():
        wall, cpu = _timed(run)
        base = base or (wall, cpu)
        ratios = f"{base[0] / wall:>20.2f}{base[1] / cpu:>5.2f}"
        print(f"{label:<18}{mode:<34}{wall:>8.2f}{cpu:>8.2f}{ratios}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=1, help="processes for the chunked pass")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=["single", "chunked"], help=argparse.SUPPRESS)
    parser.add_argument(
        "--versus-whylogs", action="store_true", help="time plain whylogs next to profile_frame"
    )
    parser.add_argument(
        "--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES)[:3],
        help="frames for --versus-whylogs",
    )  # fmt: skip
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.versus_whylogs:
        versus_whylogs(args)
        return
    if args.mode:
        print(json.dumps(run_mode(args)))
        return
    print(f"rows={args.rows:,} cols={args.cols} chunk_rows={args.chunk_rows:,}")
    print(f"{'mode':<12}{'wall s':>9}{'cpu s':>8}{'gen s':>8}{'us/cell':>9}", end="")
    print(f"{'base MiB':>10}{'peak MiB':>10}{'tree MiB':>10}")
    cells = args.rows * args.cols
    for mode in ("single", "chunked"):
        command = [sys.executable, __file__, "--mode", mode, *sys.argv[1:]]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        per_cell = (result["wall_s"] - result["generation_s"]) / cells * 1e6
        print(
            f"{result['mode']:<12}{result['wall_s']:>9.2f}{result['cpu_s']:>8.2f}"
            f"{result['generation_s']:>8.2f}"
            f"{per_cell:>9.2f}{result['baseline_mib']:>10}{result['peak_rss_mib']:>10}"
            f"{result['tree_peak_mib']:>10}"
        )


if __name__ == "__main__":
    main()
