"""The monitor flow through a real Prefect API, writing to PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.flow_engine import run_flow
from prefect.states import Scheduled
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.store.models import MetricRow, Run
from tests.flows.helpers import metric_rows, write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 5, 1), date(2024, 5, 2)]


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    return write_spec_file(tmp_path, DAYS)


def test_one_window_end_to_end(spec_file: Path, pg_store: Engine) -> None:
    result = monitor_model(
        MonitorParams(spec_path=str(spec_file), window_date=DAYS[0], write_report=False)
    )
    assert result["window"] == "2024-05-01"
    assert result["drift_share"] < 0.5  # a stationary day: no dataset drift
    assert result["failed_checks"] == []
    with Session(pg_store) as session:
        run = session.execute(select(Run)).scalar_one()
        count = session.execute(select(func.count()).select_from(MetricRow)).scalar_one()
    assert run.status == "succeeded"
    assert run.row_count == 500
    assert run.flow_run_id
    assert count > 100


def test_rerun_replaces_the_window_exactly(spec_file: Path, pg_store: Engine) -> None:
    params = MonitorParams(spec_path=str(spec_file), window_date=DAYS[1], write_report=False)
    monitor_model(params)
    first = metric_rows(pg_store)
    monitor_model(params)
    assert metric_rows(pg_store) == first


async def _scheduled_run(scheduled: datetime, params: MonitorParams) -> object:
    async with get_client() as client:
        return await client.create_flow_run(
            monitor_model,
            parameters={"params": params.model_dump(mode="json")},
            state=Scheduled(scheduled_time=scheduled),
        )


def test_window_comes_from_the_scheduled_time_not_the_clock(
    spec_file: Path, pg_store: Engine
) -> None:
    params = MonitorParams(spec_path=str(spec_file), write_report=False)
    scheduled = datetime(
        2024, 5, 3, 1, 30, tzinfo=UTC
    )  # 03:30 in Berlin: the last whole day is 2 May
    flow_run = asyncio.run(_scheduled_run(scheduled, params))
    result = run_flow(monitor_model, flow_run=flow_run, parameters={"params": params})
    assert result["window"] == "2024-05-02"
    with Session(pg_store) as session:
        starts = session.execute(select(Run.window_start)).scalars().all()
    assert starts == [datetime(2024, 5, 1, 22, 0, tzinfo=UTC)]


def test_run_name_and_artifacts(spec_file: Path, pg_store: Engine) -> None:
    monitor_model(MonitorParams(spec_path=str(spec_file), window_date=DAYS[0]))

    async def read() -> tuple[list[str], set[str]]:
        async with get_client() as client:
            runs = await client.read_flow_runs()
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="credit-default"))
            )
        return [r.name for r in runs], {a.key for a in artifacts if a.key}

    names, keys = asyncio.run(read())
    assert "credit-default 2024-05-01 green" in names
    assert {"credit-default-summary", "credit-default-drift", "credit-default-report"} <= keys


def test_a_failed_write_leaves_nothing_and_the_rerun_completes(
    spec_file: Path, pg_store: Engine
) -> None:
    """A failure inside the window's transaction (after the metrics were inserted) rolls it all back."""
    with pg_store.begin() as connection:
        connection.execute(
            text(
                "CREATE FUNCTION fail_profile() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'disk full while recording the profile'; END $$ LANGUAGE plpgsql"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER fail_profile BEFORE INSERT ON profiles FOR EACH ROW EXECUTE FUNCTION fail_profile()"
            )
        )
    params = MonitorParams(spec_path=str(spec_file), window_date=DAYS[0], write_report=False)
    try:
        state = monitor_model(params, return_state=True)
        assert state.is_failed()
        assert metric_rows(pg_store) == []
        with Session(pg_store) as session:
            assert session.execute(select(func.count()).select_from(Run)).scalar_one() == 0
    finally:
        with pg_store.begin() as connection:
            connection.execute(text("DROP TRIGGER fail_profile ON profiles"))
            connection.execute(text("DROP FUNCTION fail_profile()"))
    monitor_model(params)
    assert len(metric_rows(pg_store)) > 100


def test_a_window_over_the_memory_limit_is_read_in_chunks_with_the_same_verdicts(
    tmp_path: Path, pg_store: Engine
) -> None:
    """Above ``memory.max_cells_in_memory`` the run streams; drift and quality rows stay equal."""
    (tmp_path / "whole").mkdir()
    (tmp_path / "streamed").mkdir()
    whole_spec = write_spec_file(tmp_path / "whole", DAYS)
    memory = {"max_cells_in_memory": 1_000, "chunk_rows": 120, "budget_mb": 1}
    streamed_spec = write_spec_file(tmp_path / "streamed", DAYS, extra={"memory": memory})
    rows = {}
    for label, path in (("whole", whole_spec), ("streamed", streamed_spec)):
        state = monitor_model(
            MonitorParams(spec_path=str(path), window_date=DAYS[1], write_report=False),
            return_state=True,
        )
        rows[label] = [row for row in metric_rows(pg_store) if not row[1].startswith("profile.")]

        async def task_names(flow_run_id: object = state.state_details.flow_run_id) -> set[str]:
            async with get_client() as client:
                runs = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
                )
            return {run.name.rsplit("-", 1)[0] for run in runs}

        streamed_task = "profile, check, drift, quality (in chunks)" in asyncio.run(task_names())
        assert streamed_task is (label == "streamed")
    assert any(row[1] == "drift.score" for row in rows["whole"])
    assert rows["streamed"] == rows["whole"]
