"""Backfill through Prefect on PostgreSQL: idempotent per window, skip or recompute."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flows.backfill import BackfillParams, backfill_model
from monitoring_lib.store.models import Run
from tests.flows.helpers import metric_rows, write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 5, 1) + timedelta(days=i) for i in range(3)]


def run_starts(engine: Engine) -> dict[object, object]:
    with Session(engine) as session:
        return dict(session.execute(select(Run.window_start, Run.flow_run_id)).all())


def test_backfill_twice_gives_identical_rows(tmp_path: Path, pg_store: Engine) -> None:
    spec = write_spec_file(tmp_path, DAYS)
    params = BackfillParams(spec_path=str(spec), start=DAYS[0], end=DAYS[-1], write_reports=False)
    first = backfill_model(params)
    assert [r["window"] for r in sorted(first, key=lambda r: r["window"])] == [
        d.isoformat() for d in DAYS
    ]
    rows, runs = metric_rows(pg_store), run_starts(pg_store)
    assert len(runs) == 3

    again = backfill_model(params)
    assert again == []  # every window was complete: nothing recomputed
    assert run_starts(pg_store) == runs

    recomputed = backfill_model(params.model_copy(update={"recompute": True, "concurrency": 3}))
    assert len(recomputed) == 3
    assert metric_rows(pg_store) == rows
    assert set(run_starts(pg_store).values()).isdisjoint(runs.values())  # new flow runs wrote them


def test_backfill_rejects_a_reversed_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is before start"):
        BackfillParams(spec_path="x.yaml", start=DAYS[2], end=DAYS[0])
