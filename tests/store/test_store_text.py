"""Hostile text on a real PostgreSQL store: NUL bytes, lone surrogates, raw bytes, emoji, 1 MB
values and over-long names save (escaped, marked), and a bad key is refused before anything is
written."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.persist import persist_window
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.monitor import parse_spec
from monitoring_lib.store.models import Alert, MetricRow, Model, Run
from monitoring_lib.store.repository import (
    AlertDraft,
    DuplicateMetricError,
    InvalidMetricKeyError,
    RunInfo,
    ensure_model,
    replace_window,
    window_metrics,
)
from monitoring_lib.windows import window_starting_on

pytestmark = pytest.mark.postgres

WINDOW = window_starting_on(date(2024, 5, 1), timedelta(days=1), "UTC")
NUL_VALUE = "home\x00loan"
MEGABYTE = "é" * 1_000_000


def run_info() -> RunInfo:
    now = datetime(2024, 5, 2, tzinfo=UTC)
    return RunInfo(status="succeeded", started_at=now, finished_at=now, code_version="t")


def save(sessions: sessionmaker[Session], records: list[MetricRecord], **options: object) -> None:
    with sessions.begin() as session:
        model = ensure_model(session, "credit", "binary")
        replace_window(session, model, WINDOW, run_info(), records, **options)  # type: ignore[arg-type]


def stored(sessions: sessionmaker[Session]) -> list[MetricRecord]:
    with sessions() as session:
        return window_metrics(session, ensure_model(session, "credit", "binary"), WINDOW.start)


def counts(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    with sessions() as session:
        return tuple(  # type: ignore[return-value]
            session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (MetricRow, Run, Alert)
        )


def test_a_nul_byte_in_one_category_value_does_not_stop_the_window(
    pg_sessions: sessionmaker[Session],
) -> None:
    unseen = MetricRecord(
        Metric.DQ_ALLOWED_CATEGORIES,
        1.0,
        MetricStatus.FAILED,
        column="purpose",
        details={"unseen": [{"value": NUL_VALUE, "count": 1}], NUL_VALUE: "as a key too"},
    )
    others = [MetricRecord(Metric.DRIFT_SCORE, 0.1, column=f"f{i}") for i in range(20)]
    save(pg_sessions, [unseen, *others])
    found = {record.key: record for record in stored(pg_sessions)}
    assert len(found) == 21
    details = found[unseen.key].details
    assert details["unseen"] == [{"value": "home\\x00loan", "count": 1}]
    assert details["home\\x00loan"] == "as a key too"


def test_refused_code_points_are_escaped_in_keys_details_and_text_columns(
    pg_sessions: sessionmaker[Session],
) -> None:
    surrogate = "caf\udce9"  # what the byte 0xE9 becomes under surrogateescape
    record = MetricRecord(
        Metric.DRIFT_SCORE,
        0.2,
        column=f"col{NUL_VALUE}",
        segment=f"region={surrogate}",
        details={"raw": b"\xff\x00ok", "emoji": "📉🚀", "big": MEGABYTE},
    )
    alert = AlertDraft(
        rule=f"rule\x00{surrogate}",
        severity="high",
        kind="firing",
        channel="slack:C1",
        dedup_key=f"credit|{NUL_VALUE}",
        content={"text": f"drift in {NUL_VALUE} 📉"},
    )
    run = replace(run_info(), error="a\x00b")
    with pg_sessions.begin() as session:
        model = ensure_model(session, f"model\x00{surrogate}", "binary")
        replace_window(session, model, WINDOW, run, [record], alerts=[alert])
    with pg_sessions() as session:
        [back] = window_metrics(session, model, WINDOW.start)
        name = session.execute(select(Model.name)).scalar_one()
        error = session.execute(select(Run.error)).scalar_one()
        stored_alert = session.execute(select(Alert)).scalar_one()
    assert name == "model\\x00caf\\udce9"
    assert (back.column, back.segment) == ("colhome\\x00loan", "region=caf\\udce9")
    assert back.details == {"raw": "\\xff\\x00ok", "emoji": "📉🚀", "big": MEGABYTE}
    assert error == "a\\x00b"
    assert stored_alert.rule == "rule\\x00caf\\udce9"
    assert stored_alert.content == {"text": "drift in home\\x00loan 📉"}
    with pg_sessions() as session:  # a lookup by the raw name finds the escaped row
        assert ensure_model(session, f"model\x00{surrogate}", "binary") == model


def test_an_over_long_column_name_is_cut_with_a_marker_and_stays_distinct(
    pg_sessions: sessionmaker[Session],
) -> None:
    long_names = ["x" * 5_000 + "a", "x" * 5_000 + "b"]
    save(pg_sessions, [MetricRecord(Metric.DRIFT_SCORE, 0.3, column=n) for n in long_names])
    columns = sorted(record.column for record in stored(pg_sessions))
    assert len(columns) == 2
    assert len(set(columns)) == 2
    assert all(len(column) == 300 and "5001 chars in all, sha256" in column for column in columns)


@pytest.mark.parametrize(
    ("records", "error", "words"),
    [
        ([MetricRecord(Metric.DRIFT_SCORE, 0.1, column=None)], InvalidMetricKeyError, "column=None"),  # type: ignore[arg-type]
        ([MetricRecord(Metric.DRIFT_SCORE, 0.1, segment=None)], InvalidMetricKeyError, "segment=None"),  # type: ignore[arg-type]
        ([MetricRecord(None, 0.1)], InvalidMetricKeyError, "metric=None"),  # type: ignore[arg-type]
        ([MetricRecord(Metric.ACCURACY, 0.9), MetricRecord(Metric.ACCURACY, 0.8)], DuplicateMetricError, "appears twice"),
        ([MetricRecord(Metric.DRIFT_SCORE, 0.1, column="a\x00"), MetricRecord(Metric.DRIFT_SCORE, 0.2, column="a\\x00")], DuplicateMetricError, "stored alike"),
    ],
)  # fmt: skip
def test_a_null_or_repeated_key_is_refused_and_nothing_is_stored(
    pg_sessions: sessionmaker[Session],
    records: list[MetricRecord],
    error: type[Exception],
    words: str,
) -> None:
    good = [MetricRecord(Metric.ROW_COUNT, 10.0)]
    draft = AlertDraft("r", "high", "firing", "slack:C1", "credit|r", {"text": "x"})
    with pytest.raises(error, match=words):
        save(pg_sessions, [*good, *records], alerts=[draft])
    assert counts(pg_sessions) == (0, 0, 0)


def hostile_project(folder: Path, log_format: str) -> Path:
    """Ordinary reference rows and a one-row log: a parquet log whose category holds a NUL byte,
    emoji and a 1 MB value, or a CSV log with a byte that is not UTF-8, emoji and a 1 MB value."""
    rng = np.random.default_rng(3)
    pd.DataFrame(
        {
            "scored_at": pd.Timestamp("2024-04-01", tz="UTC"),
            "application_id": np.arange(300),
            "amount": rng.normal(100, 10, 300),
            "purpose": rng.choice(["car", "home", "study"], 300),
            "note": rng.choice(["a", "b"], 300),
            "predicted": rng.integers(0, 2, 300),
        }
    ).to_parquet(folder / "reference.parquet")
    if log_format == "parquet":
        row = {
            "scored_at": pd.Timestamp("2024-05-01 10:00", tz="UTC"),
            "application_id": 1,
            "amount": 105.5,
            "purpose": f"{NUL_VALUE} 📉",
            "note": MEGABYTE,
            "predicted": 1,
        }
        pd.DataFrame([row]).to_parquet(folder / "log.parquet")
    else:
        header = b"scored_at,application_id,amount,purpose,note,predicted\n"
        row_bytes = b'2024-05-01T10:00:00Z,1,105.5,"caf\xe9 \xf0\x9f\x93\x89","'
        (folder / "log.csv").write_bytes(header + row_bytes + MEGABYTE.encode() + b'",1\n')
    return folder


@pytest.mark.parametrize(
    ("log_format", "shown"), [("parquet", "home\\x00loan 📉"), ("csv", "caf\ufffd 📉")]
)
def test_a_hostile_one_row_window_is_stored_on_postgresql(
    pg_sessions: sessionmaker[Session], tmp_path: Path, log_format: str, shown: str
) -> None:
    folder = hostile_project(tmp_path, log_format)
    spec = parse_spec(
        {
            "name": "hostile 📉 </script>",
            "task": "binary",
            "window": {"timezone": "UTC"},
            "sources": {
                "predictions": {"path": f"log.{log_format}"},
                "reference": {"path": "reference.parquet"},
            },
            "columns": {
                "timestamp": "scored_at",
                "id": "application_id",
                "numerical": ["amount"],
                "categorical": ["purpose", "note"],
                "prediction": "predicted",
            },
        },
        base_dir=folder,
    )
    data = load_window(spec, WINDOW)
    assert len(data.frame) == 1
    evaluation = evaluate_window(
        spec, data, load_reference(spec), artifacts=tmp_path / "artifacts", write_report=False
    )
    with pg_sessions.begin() as session:
        persist_window(session, spec, WINDOW, run_info(), evaluation)
    with pg_sessions() as session:
        model = ensure_model(session, spec.name, "binary")
        kept = {r.key: r for r in window_metrics(session, model, WINDOW.start)}
    assert kept.keys() == {r.key for r in evaluation.records}
    unseen = kept[(Metric.DQ_ALLOWED_CATEGORIES, "purpose", "")].details["unseen"]
    assert unseen == [{"value": shown, "count": 1}]
    notes = kept[(Metric.PROFILE_FREQUENT_ITEMS, "note", "")].details["items"]
    [note] = [item["value"] for item in notes]
    assert MEGABYTE.startswith(note)  # whylogs keeps a prefix of long frequent items
    assert len(note) >= 100
