"""Late labels at the cost of what changed: one read of each source for every past window, and
only the windows whose labels grew rescored, to the same stored values as scoring them alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib import demo_data
from monitoring_lib.io import loading
from monitoring_lib.io.loading import load_reference, load_window, scoring_columns
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.late_labels import refresh_labels
from monitoring_lib.pipeline.persist import persist_evaluation
from monitoring_lib.pipeline.quality import realised_quality
from monitoring_lib.spec.monitor import MonitorSpec, parse_spec
from monitoring_lib.store.repository import RunInfo, model_id, window_metrics
from monitoring_lib.windows import Window, window_starting_on
from tests.credit_world import ZONE, write_project

pytestmark = pytest.mark.postgres
DAYS = [date(2024, 5, 1) + timedelta(days=i) for i in range(4)]
GAINING = {1, 3}  # the second and fourth days' labels arrive; the others' do not


def spec_of(folder: Path, kind: str) -> MonitorSpec:
    if kind == "csv":  # the same files as CSV: the parsed-once path for small files
        for name in ("log", "reference", "labels", "all_labels"):
            pd.read_parquet(folder / f"{name}.parquet").to_csv(folder / f"{name}.csv", index=False)
    return parse_spec(
        {
            "name": "credit-default",
            "task": "binary",
            "window": {"timezone": ZONE},
            "sources": {
                "predictions": {"path": f"log.{kind}"},
                "reference": {"path": f"reference.{kind}"},
                "labels": {"path": f"labels.{kind}"},
            },
            "columns": {**demo_data.COLUMNS, "label_timestamp": "labelled_at"},
        },
        base_dir=folder,
    )


def windows() -> list[Window]:
    return [window_starting_on(day, timedelta(days=1), ZONE) for day in DAYS]


@pytest.fixture(params=["parquet", "csv"])
def scored(
    request: pytest.FixtureRequest, tmp_path: Path, pg_sessions: sessionmaker[Session]
) -> tuple[MonitorSpec, Path]:
    folder = write_project(
        tmp_path, [(d, demo_data.STATIONARY) for d in DAYS], rows=300, label_every=3
    )
    spec = spec_of(folder, request.param)
    reference = load_reference(spec)
    for window in windows():
        evaluation = evaluate_window(
            spec, load_window(spec, window), reference, artifacts=tmp_path / "a", write_report=False
        )
        now = datetime.now(UTC)
        run = RunInfo(status="succeeded", started_at=now, finished_at=now, code_version="t")
        with pg_sessions.begin() as session:
            persist_evaluation(session, spec, window, run, evaluation)
    return spec, folder


def reveal_labels_of(spec: MonitorSpec, folder: Path, days: set[int]) -> None:
    """Every label of those days arrives; the labels file keeps what it had for the others."""
    kind = "csv" if str(spec.sources.labels.path).endswith(".csv") else "parquet"  # type: ignore[union-attr]
    read = pd.read_csv if kind == "csv" else pd.read_parquet
    everything, known = read(folder / f"all_labels.{kind}"), read(folder / f"labels.{kind}")
    day_of = everything["application_id"] // 1_000_000  # write_project's ids: day * 1M + n
    labels = pd.concat([known, everything[day_of.isin(days)]]).drop_duplicates("application_id")
    if kind == "csv":
        labels.to_csv(folder / "labels.csv", index=False)
    else:
        labels.to_parquet(folder / "labels.parquet")


def stored(sessions: sessionmaker[Session]) -> dict[tuple[datetime, str, str, str], Any]:
    with sessions() as session:
        model = model_id(session, "credit-default")
        assert model is not None
        return {
            (w.start, *r.key): (r.value, r.status, r.details)
            for w in windows()
            for r in window_metrics(session, model, w.start)
        }


def test_only_windows_that_gained_labels_are_rescored_from_one_read_of_each_source(
    scored: tuple[MonitorSpec, Path],
    pg_sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, folder = scored
    before = stored(pg_sessions)
    reveal_labels_of(spec, folder, GAINING)
    reads: Counter[str] = Counter()
    read_source = loading.iter_source

    def counted(*args: Any, **kwargs: Any) -> Iterator[pd.DataFrame]:
        reads[args[2]] += 1  # the role: predictions, labels
        return read_source(*args, **kwargs)

    monkeypatch.setattr(loading, "iter_source", counted)
    outcomes = refresh_labels(spec, pg_sessions)
    monkeypatch.undo()
    after = stored(pg_sessions)

    assert [o.refreshed for o in outcomes] == [i in GAINING for i in range(len(DAYS))]
    assert reads == {"predictions": 1, "labels": 1}
    assert set(after) == set(before)
    for index, window in enumerate(windows()):
        keys = [k for k in before if k[0] == window.start]
        if index not in GAINING:
            assert {k: after[k] for k in keys} == {k: before[k] for k in keys}
            continue
        # what scoring this window alone with today's labels stores, as before this change
        alone = realised_quality(
            spec, load_window(spec, window, columns=scoring_columns(spec)).frame
        )
        expected = {(window.start, *r.key): (r.value, r.status, r.details) for r in alone.records}
        assert {k: after[k] for k in expected} == expected
        untouched = [k for k in keys if not k[1].startswith(("quality.", "labels."))]
        assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}
        assert any(after[k] != before[k] for k in expected)
