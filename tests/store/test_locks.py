"""A lock holder whose backend is killed (pg_terminate_backend) frees its lock: the retrain
advisory lock, the window's run row and the model row the registry numbers versions under.
Every waiter has a lock_timeout, so a lock that stayed held would fail the test, not hang it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.actions.retrain import retrain_lock
from monitoring_lib.records import Metric, MetricRecord
from monitoring_lib.store.repository import (
    RunInfo,
    ensure_model,
    replace_window,
    require_model_id,
    window_metrics,
)
from monitoring_lib.windows import window_starting_on

pytestmark = pytest.mark.postgres

WINDOW = window_starting_on(date(2024, 5, 1), timedelta(days=1), "UTC")
NOW = datetime(2024, 5, 2, tzinfo=UTC)


def run_info() -> RunInfo:
    return RunInfo(status="succeeded", started_at=NOW, finished_at=NOW, code_version="t")


def write_window(session: Session, value: float) -> None:
    model = ensure_model(session, "credit", "binary")
    replace_window(session, model, WINDOW, run_info(), [MetricRecord(Metric.DRIFT_SHARE, value)])


def kill(sessions: sessionmaker[Session], holder: Session) -> None:
    """Terminate ``holder``'s backend and wait (up to 10 s) until it is gone."""
    pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with sessions() as killer:
        assert killer.execute(
            text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid}
        ).scalar_one()
    with pytest.raises(DBAPIError):
        holder.commit()
    holder.close()


def impatient(sessions: sessionmaker[Session], work: Callable[[Session], Any]) -> Any:
    """Run ``work`` in a transaction that gives up on any lock after 5 s."""
    with sessions.begin() as session:
        session.execute(text("SET LOCAL lock_timeout = '5s'"))
        return work(session)


def test_the_retrain_lock_of_a_killed_holder_is_free(pg_sessions: sessionmaker[Session]) -> None:
    with pg_sessions.begin() as session:
        model = ensure_model(session, "credit", "binary")
    holder = pg_sessions()
    holder.begin()
    assert retrain_lock(holder, model)
    assert impatient(pg_sessions, lambda s: retrain_lock(s, model)) is False  # held
    kill(pg_sessions, holder)
    assert impatient(pg_sessions, lambda s: retrain_lock(s, model)) is True


def test_a_window_locked_by_a_killed_writer_is_free_and_keeps_no_partial_rows(
    pg_sessions: sessionmaker[Session],
) -> None:
    with pg_sessions.begin() as session:
        write_window(session, 0.1)
    holder = pg_sessions()
    holder.begin()
    write_window(holder, 0.9)  # holds the run row's lock, its rows unwritten to others
    kill(pg_sessions, holder)
    impatient(pg_sessions, lambda s: write_window(s, 0.5))
    with pg_sessions() as session:
        [stored] = window_metrics(session, ensure_model(session, "credit", "binary"), WINDOW.start)
    assert stored.value == 0.5


def test_the_model_row_locked_by_a_killed_registration_is_free(
    pg_sessions: sessionmaker[Session],
) -> None:
    with pg_sessions.begin() as session:
        ensure_model(session, "credit", "binary")
    holder = pg_sessions()
    holder.begin()
    require_model_id(holder, "credit", lock=True)  # as a registration numbering a version
    kill(pg_sessions, holder)
    assert impatient(pg_sessions, lambda s: require_model_id(s, "credit", lock=True)) > 0
