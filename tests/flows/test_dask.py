"""The monitor flow with its profiling on a Dask cluster (two worker processes, shared by the
module) stores the rows of a local streamed run; a backfill too; a worker lost mid-window leaves
no row of the window, and the rerun completes."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import cloudpickle
import dask
import numpy as np
import pandas as pd
import pytest
import yaml
from distributed import Client, LocalCluster, WorkerPlugin
from sqlalchemy import Engine

from flows.backfill import BackfillParams, backfill_model
from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.io.loading import load_window
from monitoring_lib.io.parts import part_rows, source_parts
from monitoring_lib.metrics.service import ServiceCounts
from monitoring_lib.pipeline.distributed import merge_parts, profile_part
from monitoring_lib.pipeline.streamed import profile_pass, window_labels, window_reader
from monitoring_lib.spec.monitor import load_spec
from monitoring_lib.windows import window_starting_on
from tests.credit_world import ZONE
from tests.flows.helpers import metric_rows, write_spec_file
from tests.flows.test_killed_persist import rows_per_window_table

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 5, 1) + timedelta(days=i) for i in range(3)]
RANK_ERROR = 0.02
"""Rank error allowed to a KLL quantile (as the streamed path's own test allows)."""
QUANTILES = {"profile.q01": 0.01, "profile.q25": 0.25, "profile.q50": 0.5, "profile.q75": 0.75,
             "profile.q99": 0.99}  # fmt: skip

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the plugin below, by value


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    """One cluster for the module. A task whose worker dies is not rerun elsewhere (no allowed
    failures), so a lost worker fails its window instead of hiding in a retry."""
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as local,
        Client(local) as client,
    ):
        # Workers import driftwise while the first test's local run goes on in this process.
        warm = [
            client.submit(_warm, workers=[w], pure=False)
            for w in client.scheduler_info()["workers"]
        ]
        yield client
        del warm


def _warm() -> None:
    importlib.import_module("monitoring_lib.pipeline.distributed")


def _project(folder: Path, days: list[date], compute: dict[str, Any] | None) -> Path:
    """A credit project whose log is three files, read in small chunks with a small sample, so
    parts, offsets and the sample merge all matter."""
    memory = {"max_cells_in_memory": 1, "chunk_rows": 250, "budget_mb": 2}
    extra: dict[str, Any] = {"memory": memory}
    spec_path = write_spec_file(folder, days, rows=900, changed_from=days[-1], extra=extra)
    log = pd.read_parquet(folder / "log.parquet")
    (folder / "log").mkdir()
    for index, part in enumerate(np.array_split(np.arange(len(log)), 3)):
        log.iloc[part].to_parquet(folder / "log" / f"part-{index}.parquet")
    data = yaml.safe_load(spec_path.read_text())
    data["sources"]["predictions"]["path"] = "log/*.parquet"
    data["drift"]["report_sample_size"] = 200
    return _with_compute(spec_path, data, compute)


def _with_compute(spec_path: Path, data: dict[str, Any], compute: dict[str, Any] | None) -> Path:
    if compute is None:
        data.pop("compute", None)
    else:
        data["compute"] = compute
    spec_path.write_text(yaml.safe_dump(data))
    return spec_path


def _on(cluster: Client, spec_path: Path) -> Path:
    data = yaml.safe_load(spec_path.read_text())
    return _with_compute(
        spec_path, data, {"mode": "address", "address": cluster.scheduler_info()["address"]}
    )


def assert_same_rows(local: list[Any], remote: list[Any], spec_path: Path) -> None:
    """Exact statistics equal; profile quantiles between the true quantiles RANK_ERROR either
    side; cardinality within 5%; checks derived from sketches with the same status."""
    assert [r[:4] for r in local] == [r[:4] for r in remote]
    spec = load_spec(str(spec_path))
    frames: dict[object, pd.DataFrame] = {}
    sketched = 0
    for mine, theirs in zip(local, remote, strict=True):
        start, metric, column, _, value, status, _ = mine
        if metric in QUANTILES and value is not None:
            if start not in frames:
                window = window_starting_on(
                    pd.Timestamp(start).tz_convert(ZONE).date(), timedelta(days=1), ZONE
                )
                frames[start] = load_window(spec, window).frame
            values = frames[start][column].dropna().to_numpy(dtype=float)
            level = QUANTILES[metric]
            low, high = (min(max(level + d, 0.0), 1.0) for d in (-RANK_ERROR, RANK_ERROR))
            assert np.quantile(values, low) <= theirs[4] <= np.quantile(values, high), mine
            sketched += 1
        elif metric == "profile.cardinality":
            assert theirs[4] == pytest.approx(value, rel=0.05), mine
        elif str(metric).startswith(("profile.", "dq.")):
            assert theirs[5] == status, mine
            assert theirs[4] == pytest.approx(value, rel=1e-9, abs=1e-9), mine
        else:
            assert theirs == mine
    assert sketched  # the comparison covered the sketched quantiles


def test_a_window_on_dask_stores_the_rows_of_a_local_run(
    tmp_path: Path, pg_store: Engine, cluster: Client
) -> None:
    spec_path = _project(tmp_path, DAYS[-1:], None)
    params = MonitorParams(
        spec_path=str(spec_path), window_date=DAYS[-1], write_report=False, relabel_days=0
    )
    assert monitor_model(params, return_state=True).is_completed()
    local = metric_rows(pg_store)

    _on(cluster, spec_path)
    state = monitor_model(params, return_state=True)
    assert state.is_completed(), state.message
    remote = metric_rows(pg_store)
    assert {r[1] for r in remote} >= {"drift.score", "quality.accuracy"}
    assert any(r[3] for r in remote)  # segments too
    assert_same_rows(local, remote, spec_path)


def test_a_backfill_on_dask_equals_a_local_backfill(
    tmp_path: Path, pg_store: Engine, cluster: Client
) -> None:
    spec_path = _project(tmp_path, DAYS, None)
    params = BackfillParams(
        spec_path=str(spec_path), start=DAYS[0], end=DAYS[-1], write_reports=False
    )
    assert len(backfill_model(params)) == 3
    local = metric_rows(pg_store)

    _on(cluster, spec_path)
    assert len(backfill_model(params.model_copy(update={"recompute": True}))) == 3
    assert_same_rows(local, metric_rows(pg_store), spec_path)


class DieOnce(WorkerPlugin):
    """Ends the worker process (``os._exit``) as it starts profiling a part, the first time."""

    name = "die-once"

    def __init__(self, mark: str) -> None:
        self.mark = mark

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        name = key[0] if isinstance(key, tuple) else key
        starts = finish == "executing" and str(name).startswith("profile_part")
        if starts and not os.path.exists(self.mark):
            Path(self.mark).write_text(str(os.getpid()))
            os._exit(1)


def test_a_worker_lost_mid_window_leaves_no_partial_window_and_the_rerun_completes(
    tmp_path: Path, pg_store: Engine, cluster: Client
) -> None:
    spec_path = _on(cluster, _project(tmp_path, DAYS[-1:], None))
    params = MonitorParams(
        spec_path=str(spec_path), window_date=DAYS[-1], write_report=False, relabel_days=0
    )
    mark = tmp_path / "worker-died"
    cluster.register_plugin(DieOnce(str(mark)))
    try:
        failed = monitor_model(params, return_state=True)
        assert mark.exists()  # a worker died inside the window's profiling
        assert failed.is_failed()
        assert set(rows_per_window_table(pg_store).values()) == {0}

        rerun = monitor_model(params, return_state=True)
        assert rerun.is_completed(), rerun.message
    finally:
        cluster.unregister_worker_plugin(DieOnce.name)
    stored = rows_per_window_table(pg_store)
    assert stored["runs"] == 1
    assert stored["metrics"] > 100


def test_parts_profiled_apart_keep_the_sample_of_one_pass(tmp_path: Path) -> None:
    """What each worker does, here in turn: each part sampled from its first row's offset and
    merged in order gives the sample one pass over the window keeps."""
    spec = load_spec(_project(tmp_path, DAYS[:1], None))
    window = window_starting_on(DAYS[0], timedelta(days=1), ZONE)
    read = window_reader(spec, window, window_labels(spec, window, None), {})
    _, whole = profile_pass(spec, read, 1, ServiceCounts())
    parts = source_parts(spec.sources.predictions, spec.base_dir, "predictions")
    sizes = [part_rows(spec, window, part) for part in parts]
    assert len(parts) == 3
    assert sizes == [300, 300, 300]
    offsets = [sum(sizes[:index]) for index in range(len(parts))]
    profiled = [profile_part(spec, window, p, None, o) for p, o in zip(parts, offsets, strict=True)]
    _, merged = merge_parts(profiled, ServiceCounts(), {})
    assert merged.row_count == whole.row_count == 900
    pd.testing.assert_frame_equal(merged.sample(), whole.sample())
