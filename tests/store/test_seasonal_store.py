"""A seasonal learned threshold on a real PostgreSQL store: a live evaluation and a replay read
the weeks of history it needs, not only the last ``window`` windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.policy.store import decide_stored_window, replay_policy
from monitoring_lib.records import Metric, MetricRecord
from monitoring_lib.spec.policy import PolicySpec
from monitoring_lib.store.repository import RunInfo, ensure_model, replace_window
from monitoring_lib.windows import window_starting_on

pytestmark = pytest.mark.postgres

MONDAY = date(2024, 1, 1)
DAYS = 43  # six weeks and a Monday


def rows_on(day: int) -> float:
    return (3000.0 if day % 7 == 0 else 1000.0) + (day * 37 % 11) * 5


def policy(threshold: dict[str, Any]) -> PolicySpec:
    rule = {"name": "rows", "metric": "window.row_count", "direction": "above",
            "threshold": threshold, "action": "alert"}  # fmt: skip
    return PolicySpec.model_validate({"rules": [rule]})


def store_days(sessions: sessionmaker[Session]) -> list[datetime]:
    now = datetime(2024, 3, 1, tzinfo=UTC)
    run = RunInfo(status="succeeded", started_at=now, finished_at=now, code_version="t")
    starts = []
    with sessions.begin() as session:
        model = ensure_model(session, "m", "binary")
        for day in range(DAYS):
            window = window_starting_on(
                MONDAY + timedelta(days=day), timedelta(days=1), "Europe/Berlin"
            )
            replace_window(
                session, model, window, run, [MetricRecord(Metric.ROW_COUNT, rows_on(day))]
            )
            starts.append(window.start)
    return starts


def test_a_monday_is_judged_against_mondays_live_and_in_a_replay(
    pg_sessions: sessionmaker[Session],
) -> None:
    starts = store_days(pg_sessions)
    plain = policy({"window": 14, "k": 2})
    seasonal = policy({"window": 4, "k": 2, "min_std": 50, "seasonal": "weekday"})
    with pg_sessions.begin() as session:
        assert decide_stored_window(session, "m", plain, starts[-1]).results[0].breached
        live = decide_stored_window(session, "m", seasonal, starts[-1]).results[0]
    assert not live.breached
    assert "over 4 same-weekday windows" in live.reason
    with pg_sessions() as session:
        replayed = replay_policy(session, "m", seasonal, starts[35], starts[-1] + timedelta(days=1))
    assert [e.results[0].breached for e in replayed] == [False] * 8
    assert replayed[-1].results[0].threshold == live.threshold
