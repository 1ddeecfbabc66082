"""Backfill through Prefect on PostgreSQL when some windows fail: every other window is still
computed, the run ends Failed naming the failed ones, and a rerun computes only those."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

import driftwise
from flows.backfill import BackfillParams, backfill_model
from monitoring_lib.store.models import Action, Alert, MetricRow, Run
from tests.flows.helpers import metric_rows, write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
ROWS = 150


def daily_files(spec_path: Path, days: list[date]) -> Path:
    """Split the one log into a file per day (log/<day>.parquet): a day can break on its own."""
    folder = spec_path.parent
    log = pd.read_parquet(folder / "log.parquet")
    assert len(log) == ROWS * len(days)
    (folder / "log").mkdir()
    for index, day in enumerate(days):
        log.iloc[index * ROWS : (index + 1) * ROWS].to_parquet(folder / "log" / f"{day}.parquet")
    spec = yaml.safe_load(spec_path.read_text())
    spec["sources"]["predictions"]["path"] = "log/*.parquet"
    spec_path.write_text(yaml.safe_dump(spec))
    return folder / "log"


def break_day(log_folder: Path, day: date) -> pd.DataFrame:
    """Overwrite the data pages of one day's file, keeping its footer (so other windows still
    skip it by its statistics) and return the good frame to restore. Reading the day fails."""
    path = log_folder / f"{day}.parquet"
    good = pd.read_parquet(path)
    raw = bytearray(path.read_bytes())
    footer = int.from_bytes(raw[-8:-4], "little")
    raw[4 : len(raw) - 8 - footer] = b"\xff" * (len(raw) - 12 - footer)
    path.write_bytes(bytes(raw))
    return good


def runs(engine: Engine) -> dict[object, tuple[object, object]]:
    with Session(engine) as session:
        query = select(Run.window_start, Run.flow_run_id, Run.code_version)
        return {start: (flow_run, version) for start, flow_run, version in session.execute(query)}


def count(engine: Engine, table: type) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_one_failing_day_of_thirty_leaves_29_stored_and_a_rerun_computes_only_it(
    tmp_path: Path, pg_store: Engine
) -> None:
    days = [date(2024, 5, 1) + timedelta(days=i) for i in range(30)]
    spec = write_spec_file(tmp_path, days, rows=ROWS)
    log_folder = daily_files(spec, days)
    bad = days[9]
    good = break_day(log_folder, bad)
    params = BackfillParams(
        spec_path=str(spec), start=days[0], end=days[-1], concurrency=4, write_reports=False
    )

    state = backfill_model(params, return_state=True)
    assert state.is_failed()
    assert (state.message or "").startswith(f"1 of 30 windows failed: {bad} (")
    first = runs(pg_store)
    assert len(first) == 29
    assert bad.isoformat() not in {str(start) for start in first}

    good.to_parquet(log_folder / f"{bad}.parquet")  # the day's file is repaired
    again = backfill_model(params)
    assert [r["window"] for r in again] == [bad.isoformat()]  # only the failed day ran
    second = runs(pg_store)
    assert len(second) == 30
    assert {k: v for k, v in second.items() if k in first} == first  # the 29 were not touched
    assert count(pg_store, Alert) == 0  # a backfill raises no per-window alert
    with Session(pg_store) as session:
        kinds = set(session.scalars(select(Action.kind)))
    assert "retrain" not in kinds


def test_a_backfill_rerun_by_new_code_replaces_its_rows(
    tmp_path: Path, pg_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = [date(2024, 5, 1) + timedelta(days=i) for i in range(3)]
    spec = write_spec_file(tmp_path, days, rows=ROWS)
    params = BackfillParams(spec_path=str(spec), start=days[0], end=days[-1], write_reports=False)
    assert len(backfill_model(params)) == 3
    rows, metrics = metric_rows(pg_store), count(pg_store, MetricRow)
    assert backfill_model(params) == []  # the same code: nothing to do

    monkeypatch.setattr(driftwise, "__version__", "999.0.0")
    assert len(backfill_model(params)) == 3  # every window was computed by older code
    assert {version for _, version in runs(pg_store).values()} == {"999.0.0"}
    assert count(pg_store, MetricRow) == metrics
    assert metric_rows(pg_store) == rows
