"""Late labels on PostgreSQL: quality is recomputed, drift is left alone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib import demo_data
from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.metrics.quality.counts import ClassificationCounts, counts_from_json
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.late_labels import refresh_labels
from monitoring_lib.pipeline.persist import persist_evaluation
from monitoring_lib.records import Metric
from monitoring_lib.store.models import QualityCount, ReferenceProfile, Run
from monitoring_lib.store.repository import RunInfo, model_id, window_metrics
from monitoring_lib.windows import window_starting_on
from tests.credit_world import ZONE, credit_spec, reveal_all_labels, write_project

pytestmark = pytest.mark.postgres
DAYS = [date(2024, 5, 1), date(2024, 5, 2)]


@pytest.fixture
def scored_project(tmp_path: Path, pg_sessions: sessionmaker[Session]) -> Path:
    folder = write_project(
        tmp_path, [(d, demo_data.STATIONARY) for d in DAYS], rows=600, label_every=3
    )
    spec = credit_spec(folder)
    reference = load_reference(spec)
    for day in DAYS:
        window = window_starting_on(day, timedelta(days=1), ZONE)
        evaluation = evaluate_window(
            spec,
            load_window(spec, window),
            reference,
            artifacts=tmp_path / "artifacts",
            write_report=False,
        )
        now = datetime.now(UTC)
        with pg_sessions.begin() as session:
            persist_evaluation(
                session,
                spec,
                window,
                RunInfo(status="succeeded", started_at=now, finished_at=now, code_version="t"),
                evaluation,
            )
    return folder


def snapshot(sessions: sessionmaker[Session]) -> dict[tuple[datetime, str, str, str], float | None]:
    with sessions() as session:
        model = model_id(session, "credit-default")
        assert model is not None
        starts = session.execute(select(Run.window_start).where(Run.model_id == model)).scalars()
        return {(s, *r.key): r.value for s in starts for r in window_metrics(session, model, s)}


def test_refresh_rescored_quality_and_kept_drift(
    scored_project: Path, pg_sessions: sessionmaker[Session]
) -> None:
    before = snapshot(pg_sessions)
    reveal_all_labels(scored_project)
    outcomes = refresh_labels(credit_spec(scored_project), pg_sessions)
    after = snapshot(pg_sessions)

    assert [o.refreshed for o in outcomes] == [True, True]
    assert all(o.labelled_now == 600 and o.labelled_before == 200 for o in outcomes)
    assert set(before) == set(after)
    for key, value in before.items():
        metric = key[1]
        if metric.startswith(("quality.", "labels.")):
            continue
        assert after[key] == value, key
    coverage = [v for k, v in after.items() if k[1] == Metric.LABEL_COVERAGE]
    assert coverage == [1.0, 1.0]
    changed = [k for k in before if k[1].startswith("quality.") and before[k] != after[k]]
    assert changed, "quality computed on three times the labels should move"


def test_refresh_without_new_labels_changes_nothing(
    scored_project: Path, pg_sessions: sessionmaker[Session]
) -> None:
    before = snapshot(pg_sessions)
    outcomes = refresh_labels(credit_spec(scored_project), pg_sessions)
    assert [o.refreshed for o in outcomes] == [False, False]
    assert snapshot(pg_sessions) == before


def test_reference_profile_location_is_stored(
    scored_project: Path, pg_sessions: sessionmaker[Session]
) -> None:
    with pg_sessions() as session:
        rows = session.execute(select(ReferenceProfile)).scalars().all()
    assert len(rows) == 1  # two windows, one reference content
    assert rows[0].uri.startswith("file://")
    assert Path(rows[0].uri.removeprefix("file://")).is_file()


def stored_counts(sessions: sessionmaker[Session]) -> dict[tuple[datetime, str], QualityCount]:
    with sessions() as session:
        rows = session.execute(select(QualityCount)).scalars().all()
        session.expunge_all()
    return {(row.window_start, row.kind): row for row in rows}


def test_counts_are_stored_and_late_labels_rescore_the_realised_ones(
    scored_project: Path, pg_sessions: sessionmaker[Session]
) -> None:
    before = stored_counts(pg_sessions)
    assert sorted({kind for _, kind in before}) == ["expected", "realised"]
    assert len(before) == 2 * len(DAYS)
    for (_start, kind), row in before.items():
        counts = counts_from_json(row.counts)
        assert isinstance(counts, ClassificationCounts)
        assert counts.expected is (kind == "expected")
        assert row.rows == pytest.approx(200 if kind == "realised" else 600)
        assert counts.rows == pytest.approx(row.rows)

    reveal_all_labels(scored_project)
    refresh_labels(credit_spec(scored_project), pg_sessions)
    after = stored_counts(pg_sessions)

    assert set(after) == set(before)
    for key, row in after.items():
        if key[1] == "realised":
            assert row.rows == 600
        else:
            assert row.counts == before[key].counts  # estimation does not read labels


def test_estimated_quality_is_stored_with_its_interval(
    scored_project: Path, pg_sessions: sessionmaker[Session]
) -> None:
    with pg_sessions() as session:
        model = model_id(session, "credit-default")
        assert model is not None
        start = window_starting_on(DAYS[0], timedelta(days=1), ZONE).start
        records = {r.key: r for r in window_metrics(session, model, start)}
    realised = records[(Metric.ACCURACY, "", "")]
    for metric in (Metric.ESTIMATED_ACCURACY, Metric.ESTIMATED_ROC_AUC, Metric.ESTIMATED_F1):
        estimate = records[(metric, "", "")]
        assert estimate.value is not None, estimate.details
        assert estimate.details["ci_lower"] <= estimate.value <= estimate.details["ci_upper"]
        assert estimate.details["rows"] == 600  # every row, labelled or not
        assert estimate.details["calibration"]["1"] in ("none", "sigmoid", "isotonic")
    # the credit world's probabilities are the true ones: the estimate sits near the realised value
    assert abs(records[(Metric.ESTIMATED_ACCURACY, "", "")].value - realised.value) < 0.06
    assert realised.details["ci_method"] == "wilson"
    assert realised.details["ci_lower"] < realised.value < realised.details["ci_upper"]
