"""Profile a large frame's columns in several processes: groups of whole columns, one profile.

Each column is profiled whole by one process, so its sketches are those of a single pass (nothing
is merged), and the column profiles are put together into one ``DatasetProfileView``. The calling
process profiles groups too: workers take groups from the front, the caller from the back.

Worker processes come from a forkserver that imports whylogs once (about 5 s and 3 CPU seconds
the first time a process uses it; later starts take milliseconds). So a profiler asks for workers
only once it has profiled :data:`START_AFTER_CELLS` cells, the forkserver starts in a background
thread, and the pool gets work only once the server answers: until then the caller profiles
alone, so a slow start never makes a profile slower than the caller alone.
"""

from __future__ import annotations

import heapq
import threading
from collections import deque
from collections.abc import Collection
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from datetime import UTC, datetime
from multiprocessing import get_context
from multiprocessing.context import ForkServerContext
from types import TracebackType

import numpy as np
import pandas as pd

from monitoring_lib.metrics.profiling import whylogs_api
from monitoring_lib.metrics.profiling.single import check_column_names, profile_here
from monitoring_lib.metrics.profiling.whylogs_api import DatasetProfileView

START_AFTER_CELLS = 20_000_000
"""Rows x columns a profiler profiles before it starts worker processes: about the 5 s that
their first start costs, so a window too small to repay it never pays it."""
MIN_SHARED_CELLS = 500_000
"""A frame smaller than this is profiled by the caller alone even once workers are up: sending it
to them and its profile back costs more than they save."""
GROUPS_PER_PROCESS = 4
"""Column groups per process: enough for the caller and the workers to even out their loads."""
_IN_FLIGHT_PER_WORKER = 2
"""Groups handed to each worker at once, so it starts the next without waiting for the caller."""


def _cost_per_row(series: pd.Series) -> float:
    """Rough microseconds per value, measured on whylogs 1.6.4 (floats: frequent-item strings)."""
    kind = series.dtype.kind if isinstance(series.dtype, np.dtype) else ""
    costs = {"f": 0.3, "i": 0.08, "u": 0.08, "b": 0.05, "O": 0.25}
    return costs.get(kind, 0.25 if pd.api.types.is_string_dtype(series.dtype) else 1.0)


def column_groups(df: pd.DataFrame, count: int) -> list[list[int]]:
    """Column positions in at most ``count`` groups of about equal profiling cost."""
    costs = [_cost_per_row(df.iloc[:, i]) for i in range(df.shape[1])]
    bins: list[tuple[float, int]] = [(0.0, index) for index in range(min(count, len(costs)))]
    members: list[list[int]] = [[] for _ in bins]
    for position in sorted(range(len(costs)), key=lambda i: -costs[i]):
        load, index = heapq.heappop(bins)
        members[index].append(position)
        heapq.heappush(bins, (load + costs[position], index))
    return [sorted(group) for group in members if group]


def _profile_bytes(
    df: pd.DataFrame, dataset_timestamp: datetime, numeric_only: frozenset[str]
) -> bytes:
    """Worker entry point: bytes are whylogs' own format, safe to send between processes."""
    return bytes(profile_here(df, dataset_timestamp, numeric_only).serialize())


class ColumnGroupProfiler:
    """Profiles frames in ``workers`` processes, the calling one included; a context manager."""

    def __init__(
        self,
        workers: int,
        *,
        start_after_cells: int = START_AFTER_CELLS,
        min_shared_cells: int = MIN_SHARED_CELLS,
        numeric_only: Collection[str] = (),
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.workers, self.start_after_cells = workers, start_after_cells
        self.min_shared_cells, self.cells_seen, self.groups_in_workers = min_shared_cells, 0, 0
        self.numeric_only = frozenset(numeric_only)
        """Columns profiled without frequent items (``single._schema``)."""
        self._pool: ProcessPoolExecutor | None = None
        self._server_ready: threading.Event | None = None

    @property
    def pool_started(self) -> bool:
        """Whether this profiler has started worker processes (once, for all its frames)."""
        return self._server_ready is not None

    def __enter__(self) -> ColumnGroupProfiler:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._pool is not None:  # its workers are idle unless a profile failed midway
            self._pool.shutdown(wait=True, cancel_futures=True)

    def profile(
        self, df: pd.DataFrame, dataset_timestamp: datetime | None = None
    ) -> DatasetProfileView:
        """``profile_here(df)``, its column groups spread over the processes."""
        self.cells_seen += df.size
        shared = self.workers > 1 and df.size >= self.min_shared_cells
        if not shared or self.cells_seen < self.start_after_cells:
            return profile_here(df, dataset_timestamp, self.numeric_only)
        check_column_names(df)
        stamp = dataset_timestamp or datetime.now(UTC)
        groups = column_groups(df, self.workers * GROUPS_PER_PROCESS)
        views = self._profile_groups(df, groups, stamp)
        columns = {name: column for view in views for name, column in view.get_columns().items()}
        return DatasetProfileView(
            columns={str(name): columns[str(name)] for name in df.columns},
            dataset_timestamp=stamp,
            creation_timestamp=min(view.creation_timestamp for view in views),
        )

    def _profile_groups(
        self, df: pd.DataFrame, groups: list[list[int]], stamp: datetime
    ) -> list[DatasetProfileView]:
        queue = deque(range(len(groups)))
        sent: dict[int, Future[bytes]] = {}
        views: dict[int, DatasetProfileView] = {}
        while len(views) < len(groups):
            for index in [index for index, future in sent.items() if future.done()]:
                views[index] = DatasetProfileView.deserialize(sent.pop(index).result())
                self.groups_in_workers += 1
            pool, limit = self._pool_once_ready(), (self.workers - 1) * _IN_FLIGHT_PER_WORKER
            while pool is not None and queue and len(sent) < limit:
                index = queue.popleft()
                frame = df.iloc[:, groups[index]]  # a copy per group, made as it is sent
                sent[index] = pool.submit(_profile_bytes, frame, stamp, self.numeric_only)
            if queue:
                index = queue.pop()
                frame = df.iloc[:, groups[index]]
                views[index] = profile_here(frame, stamp, self.numeric_only)
            elif sent:
                wait(sent.values(), return_when=FIRST_COMPLETED)
        return [views[index] for index in range(len(groups))]

    def _pool_once_ready(self) -> ProcessPoolExecutor | None:
        """The worker pool, once the forkserver answers; it is started in the background."""
        if self._server_ready is None:
            self._server_ready = threading.Event()
            start = threading.Thread(target=_start_forkserver, args=(self._server_ready,))
            start.daemon = True
            start.start()
        if self._pool is None and self._server_ready.is_set():
            self._pool = ProcessPoolExecutor(self.workers - 1, mp_context=_forkserver())
        return self._pool


def _forkserver() -> ForkServerContext:
    """forkserver, not fork: forking a multi-threaded flow runner can deadlock."""
    context = get_context("forkserver")
    context.set_forkserver_preload([whylogs_api.__name__])
    return context


def _start_forkserver(ready: threading.Event) -> None:
    """Start one idle process through the forkserver, which answers once it has imported whylogs.

    A thread of its own, not the pool: a pool's first ``submit`` would hold the pool's lock, and
    the caller with it, for as long as the forkserver takes to answer.
    """
    process = _forkserver().Process(target=int, daemon=True)
    process.start()
    process.join()
    ready.set()
