"""Every wait is bounded: a step blocked past its timeout fails the run, and nothing of the
window is committed after it (PostgreSQL, through Prefect)."""

from __future__ import annotations

import re
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.store.models import MetricRow, Run
from tests.flows.helpers import write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAY = date(2024, 5, 1)
TIMEOUT = 2


def waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return bool(waiting)


def test_a_persist_blocked_past_its_timeout_fails_the_run_and_commits_nothing(
    tmp_path: Path, pg_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTWISE_PERSIST_TIMEOUT_SECONDS", str(TIMEOUT))
    spec = write_spec_file(tmp_path, [DAY], rows=150)
    params = MonitorParams(
        spec_path=str(spec), window_date=DAY, write_report=False, relabel_days=0,
        send_alerts=False, allow_actions=False,
    )  # fmt: skip
    outcome: dict[str, Any] = {}
    holder = pg_store.connect()
    holder.begin()
    holder.execute(text("LOCK TABLE metrics IN SHARE MODE"))  # writes to metrics now wait
    run = threading.Thread(
        target=lambda: outcome.update(state=monitor_model(params, return_state=True))
    )
    run.start()
    try:
        deadline = time.monotonic() + 300
        while not waiting_on_a_lock(pg_store):
            assert time.monotonic() < deadline, "the persist step never reached the locked table"
            assert run.is_alive(), f"the run ended before persisting: {outcome}"
            time.sleep(0.2)
        time.sleep(TIMEOUT + 5)  # the step is now blocked well past its bound
    finally:
        holder.rollback()  # the blocked INSERT goes through; the timed-out step must not commit
        holder.close()
    run.join(timeout=300)
    assert not run.is_alive()

    state = outcome["state"]
    assert state.is_failed()
    assert re.search("timed out|timeout", state.message or "", re.IGNORECASE), state.message
    with Session(pg_store) as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 0
        assert session.scalar(select(func.count()).select_from(MetricRow)) == 0
