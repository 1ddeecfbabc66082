"""The metric store on a real PostgreSQL server."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.store.models import Alert, MetricRow, Model, Run
from monitoring_lib.store.repository import (
    AlertDraft,
    DuplicateMetricError,
    ProfileRef,
    RunInfo,
    completed_windows,
    ensure_model,
    metric_count,
    replace_metric_families,
    replace_window,
    window_metrics,
)
from monitoring_lib.windows import window_starting_on

pytestmark = pytest.mark.postgres

HOSTILE = "x'); DROP TABLE metrics;--"
WINDOW = window_starting_on(date(2024, 10, 27), timedelta(days=1), "Europe/Berlin")


def run_info(status: str = "succeeded") -> RunInfo:
    now = datetime.now(UTC)
    return RunInfo(
        status=status, started_at=now, finished_at=now, code_version="test", row_count=10
    )


def records(value: float, columns: int = 50) -> list[MetricRecord]:
    rows = [MetricRecord(Metric.DRIFT_SCORE, value, column=f"feature_{i}") for i in range(columns)]
    rows.append(MetricRecord(Metric.DRIFT_SHARE, value))
    rows.append(MetricRecord(Metric.ACCURACY, value))
    return rows


def write(
    sessions: sessionmaker[Session], value: float, name: str = "credit", columns: int = 50
) -> None:
    with sessions.begin() as session:
        model = ensure_model(session, name, "binary")
        replace_window(
            session,
            model,
            WINDOW,
            run_info(),
            records(value, columns),
            profiles=[ProfileRef(uri="file:///p.bin", row_count=10)],
        )


def stored_values(sessions: sessionmaker[Session]) -> list[float | None]:
    with sessions() as session:
        return list(session.execute(select(MetricRow.value)).scalars())


def test_rerun_replaces_the_window(pg_sessions: sessionmaker[Session]) -> None:
    write(pg_sessions, 0.1)
    write(pg_sessions, 0.2)
    with pg_sessions() as session:
        model = ensure_model(session, "credit", "binary")
        assert metric_count(session, model, WINDOW.start) == 52
        assert session.execute(select(func.count()).select_from(Run)).scalar_one() == 1
    assert set(stored_values(pg_sessions)) == {0.2}


def test_a_smaller_rerun_leaves_no_stale_rows(pg_sessions: sessionmaker[Session]) -> None:
    write(pg_sessions, 0.1, columns=50)
    write(pg_sessions, 0.3, columns=5)
    assert sorted(set(stored_values(pg_sessions))) == [0.3]
    assert len(stored_values(pg_sessions)) == 7


def test_window_keys_round_trip(pg_sessions: sessionmaker[Session]) -> None:
    write(pg_sessions, 0.5)
    with pg_sessions() as session:
        model = ensure_model(session, "credit", "binary")
        stored = window_metrics(session, model, WINDOW.start)
        row = session.execute(select(MetricRow).limit(1)).scalar_one()
    assert {r.key for r in stored} == {r.key for r in records(0.5)}
    assert row.window_start == WINDOW.start
    assert row.window_end - row.window_start == timedelta(hours=25)


def test_duplicate_keys_in_one_window_are_refused(pg_sessions: sessionmaker[Session]) -> None:
    twice = [MetricRecord(Metric.ACCURACY, 0.9), MetricRecord(Metric.ACCURACY, 0.8)]
    with pytest.raises(DuplicateMetricError), pg_sessions.begin() as session:
        replace_window(session, ensure_model(session, "m", "binary"), WINDOW, run_info(), twice)
    assert stored_values(pg_sessions) == []


def test_two_writers_of_one_window_end_with_one_consistent_set(
    pg_sessions: sessionmaker[Session],
) -> None:
    write(pg_sessions, 0.0)  # the model and window exist; both writers replace them
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def writer(value: float) -> None:
        try:
            with pg_sessions.begin() as session:
                model = ensure_model(session, "credit", "binary")
                barrier.wait(timeout=10)
                replace_window(session, model, WINDOW, run_info(), records(value, columns=2_000))
        except BaseException as error:  # collected and asserted below
            failures.append(error)

    threads = [threading.Thread(target=writer, args=(v,)) for v in (1.0, 2.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    values = stored_values(pg_sessions)
    assert len(values) == 2_002
    assert len(set(values)) == 1
    assert values[0] in (1.0, 2.0)


def test_connection_killed_mid_write_leaves_nothing_and_retry_succeeds(
    pg_sessions: sessionmaker[Session],
) -> None:
    killer = pg_sessions.kw["bind"].connect()
    session = pg_sessions()
    session.begin()
    model = ensure_model(session, "credit", "binary")
    replace_window(session, model, WINDOW, run_info(), records(0.7, columns=500))
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    killed = killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    killer.close()
    assert killed is True
    with pytest.raises(DBAPIError):
        session.commit()
    session.close()
    assert stored_values(pg_sessions) == []
    with pg_sessions() as check:
        assert check.execute(select(func.count()).select_from(Run)).scalar_one() == 0
    write(pg_sessions, 0.7, columns=500)
    assert len(stored_values(pg_sessions)) == 502


@pytest.mark.parametrize("name", [HOSTILE, "quote \" and ' mixed", "emoji 🚀📉 model", "ünïcödé"])
def test_hostile_names_are_stored_as_data(pg_sessions: sessionmaker[Session], name: str) -> None:
    hostile_records = [
        MetricRecord(
            Metric.DRIFT_SCORE, 0.4, column=name, segment=f"{name}={name}", details={"note": name}
        ),
    ]
    with pg_sessions.begin() as session:
        model = ensure_model(session, name, "binary")
        replace_window(session, model, WINDOW, run_info(), hostile_records)
    with pg_sessions() as session:
        assert session.execute(select(Model.name)).scalar_one() == name
        [stored] = window_metrics(session, ensure_model(session, name, "binary"), WINDOW.start)
        tables = session.execute(text("SELECT count(*) FROM metrics")).scalar_one()
    assert stored == hostile_records[0]
    assert tables == 1


def test_alert_outbox_deduplicates_on_rerun(pg_sessions: sessionmaker[Session]) -> None:
    alert = AlertDraft(
        rule="drift",
        severity="high",
        kind="firing",
        channel="slack:#ml",
        dedup_key="credit|drift|2024-10-27",
        content={"text": "drift"},
    )
    for _ in range(2):
        with pg_sessions.begin() as session:
            model = ensure_model(session, "credit", "binary")
            replace_window(session, model, WINDOW, run_info(), records(0.1), alerts=[alert])
    with pg_sessions() as session:
        assert session.execute(select(func.count()).select_from(Alert)).scalar_one() == 1


def test_late_labels_replace_quality_without_touching_drift(
    pg_sessions: sessionmaker[Session],
) -> None:
    write(pg_sessions, 0.1)
    refreshed = [MetricRecord(Metric.ACCURACY, 0.95), MetricRecord(Metric.LABEL_COVERAGE, 1.0)]
    with pg_sessions.begin() as session:
        model = ensure_model(session, "credit", "binary")
        replace_metric_families(session, model, WINDOW, ["quality.", "labels."], refreshed)
    with pg_sessions() as session:
        stored = {r.key: r.value for r in window_metrics(session, model, WINDOW.start)}
    assert stored[(Metric.ACCURACY, "", "")] == 0.95
    assert stored[(Metric.LABEL_COVERAGE, "", "")] == 1.0
    assert stored[(Metric.DRIFT_SHARE, "", "")] == 0.1
    with pytest.raises(ValueError, match="outside the families"), pg_sessions.begin() as session:
        replace_metric_families(
            session, model, WINDOW, ["quality."], [MetricRecord(Metric.DRIFT_SHARE, 1.0)]
        )


def test_completed_windows(pg_sessions: sessionmaker[Session]) -> None:
    write(pg_sessions, 0.1)
    other = WINDOW.start + timedelta(days=1)
    with pg_sessions() as session:
        model = ensure_model(session, "credit", "binary")
        assert completed_windows(session, model, [WINDOW.start, other]) == {WINDOW.start}


def test_statuses_without_values_are_kept(pg_sessions: sessionmaker[Session]) -> None:
    skipped = MetricRecord(
        Metric.ROC_AUC,
        None,
        MetricStatus.SKIPPED,
        details={"reason": "only one class present in labels"},
    )
    with pg_sessions.begin() as session:
        replace_window(session, ensure_model(session, "m", "binary"), WINDOW, run_info(), [skipped])
    with pg_sessions() as session:
        [stored] = window_metrics(session, ensure_model(session, "m", "binary"), WINDOW.start)
    assert stored == skipped


def test_non_finite_details_are_stored_as_words(pg_sessions: sessionmaker[Session]) -> None:
    record = MetricRecord(
        Metric.DRIFT_SCORE,
        0.0,
        MetricStatus.DRIFT,
        column="purpose",
        details={"statistic": float("inf"), "nested": [float("nan"), {"x": float("-inf")}]},
    )
    with pg_sessions.begin() as session:
        replace_window(session, ensure_model(session, "m", "binary"), WINDOW, run_info(), [record])
    with pg_sessions() as session:
        [stored] = window_metrics(session, ensure_model(session, "m", "binary"), WINDOW.start)
    assert stored.details == {"statistic": "inf", "nested": ["nan", {"x": "-inf"}]}
