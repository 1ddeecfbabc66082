"""Reads and writes of the metric store. Functions take a Session; the caller owns the transaction
(``with sessions.begin() as session: ...``), so one window is written in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.store.models import (
    KEY_TEXT_LENGTH,
    METRIC_NAME_LENGTH,
    Alert,
    MetricRow,
    Model,
    Profile,
    ReferenceProfile,
    Run,
    utcnow,
)
from monitoring_lib.store.text import fit_length, store_text
from monitoring_lib.windows import Window


class DuplicateMetricError(ValueError):
    """Two records of one window share a (metric, column, segment) key."""


class InvalidMetricKeyError(ValueError):
    """A record's metric, column or segment is missing (None): the store's key has no NULLs."""


@dataclass(frozen=True)
class RunInfo:
    """What the runs table records about one window's run."""

    status: str
    started_at: datetime
    code_version: str
    finished_at: datetime | None = None
    flow_run_id: str | None = None
    row_count: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    report_uri: str | None = None
    report_rows: int | None = None


@dataclass(frozen=True)
class ProfileRef:
    uri: str
    row_count: int
    segment: str = ""


@dataclass(frozen=True)
class AlertDraft:
    """An alert to put in the outbox with the window; its dedup key makes reruns post once."""

    rule: str
    severity: str
    kind: str
    channel: str
    dedup_key: str
    content: dict[str, Any]


def dialect_insert(session: Session) -> Any:
    """The dialect's INSERT that supports ON CONFLICT (PostgreSQL and SQLite share the API)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def ensure_model(session: Session, name: str, task: str) -> int:
    """The model's id, creating its row if needed; safe when two runs race to create it."""
    session.execute(
        dialect_insert(session)(Model).values(name=name, task=task).on_conflict_do_nothing()
    )
    return session.execute(select(Model.id).where(Model.name == name)).scalar_one()


def record_reference_profile(
    session: Session, model: int, content_hash: str, uri: str, rows: int
) -> None:
    """Remember where the reference's profile lives (one row per distinct reference content)."""
    statement = dialect_insert(session)(ReferenceProfile).values(
        model_id=model, content_hash=content_hash, uri=uri, row_count=rows, created_at=utcnow()
    )
    session.execute(statement.on_conflict_do_nothing(index_elements=["model_id", "content_hash"]))


def model_id(session: Session, name: str) -> int | None:
    return session.execute(select(Model.id).where(Model.name == name)).scalar_one_or_none()


class UnknownModelError(LookupError):
    """The store holds nothing for the named model."""


def require_model_id(session: Session, name: str, *, lock: bool = False) -> int:
    """The model's id, or a clear error; ``lock`` holds its row until the transaction ends."""
    query = select(Model.id).where(Model.name == name)
    found = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if found is None:
        raise UnknownModelError(f"the metric store holds no model named {name!r}")
    return found


def _lock_run_row(session: Session, model: int, window: Window, run: RunInfo) -> int:
    """Upsert the window's run row first: its row lock serialises concurrent writers of a window."""
    values = {
        "model_id": model,
        "window_start": window.start,
        "window_end": window.end,
        "status": run.status,
        "flow_run_id": run.flow_run_id,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "timings": run.timings,
        "code_version": run.code_version,
        "row_count": run.row_count,
        "error": run.error,
        "report_uri": run.report_uri,
        "report_rows": run.report_rows,
    }
    statement = dialect_insert(session)(Run).values(**values)
    updates = {k: statement.excluded[k] for k in values if k not in ("model_id", "window_start")}
    statement = statement.on_conflict_do_update(
        index_elements=["model_id", "window_start"], set_=updates
    )
    session.execute(statement)
    query = select(Run.id).where(Run.model_id == model, Run.window_start == window.start)
    return session.execute(query).scalar_one()


def _stored_key(record: MetricRecord) -> tuple[str, str, str]:
    """The record's key as the store will hold it, or a clear error for a missing part."""
    parts = {"metric": record.metric, "column": record.column, "segment": record.segment}
    missing = [name for name, part in parts.items() if not isinstance(part, str)]
    if missing or not record.metric:
        what = ", ".join(f"{name}={parts[name]!r}" for name in missing or ["metric"])
        raise InvalidMetricKeyError(
            f"metric record {record.key!r} has no {what}: metric, column and segment must be "
            "text ('' at dataset level), never None"
        )
    return (
        fit_length(store_text(record.metric), _KEY_LENGTHS[0]),
        fit_length(store_text(record.column), _KEY_LENGTHS[1]),
        fit_length(store_text(record.segment), _KEY_LENGTHS[2]),
    )


_KEY_LENGTHS = (METRIC_NAME_LENGTH, KEY_TEXT_LENGTH, KEY_TEXT_LENGTH)


def _check_keys(records: Sequence[MetricRecord]) -> None:
    """Refuse a batch with a missing key part or a key twice (as stored: text made storable)."""
    seen: dict[tuple[str, str, str], MetricRecord] = {}
    for record in records:
        key = _stored_key(record)
        if key in seen:
            first = seen[key].key
            same = "" if first == record.key else f" (stored alike as {key!r} beside {first!r})"
            raise DuplicateMetricError(f"metric {record.key} appears twice in one window{same}")
        seen[key] = record


def _rows(
    model: int, window: Window, run_id: int, records: Iterable[MetricRecord]
) -> list[dict[str, Any]]:
    return [
        {
            "model_id": model,
            "window_start": window.start,
            "window_end": window.end,
            "metric": r.metric,
            "column_name": r.column,
            "segment": r.segment,
            "run_id": run_id,
            "value": r.value,
            "status": str(r.status),
            "details": r.details,
        }
        for r in records
    ]


def replace_window(
    session: Session,
    model: int,
    window: Window,
    run: RunInfo,
    records: Sequence[MetricRecord],
    profiles: Sequence[ProfileRef] = (),
    alerts: Sequence[AlertDraft] = (),
) -> int:
    """Replace everything stored for one window; returns the run id. Commit is the caller's."""
    _check_keys(records)
    run_id = _lock_run_row(session, model, window, run)
    session.execute(
        delete(MetricRow).where(MetricRow.model_id == model, MetricRow.window_start == window.start)
    )
    session.execute(
        delete(Profile).where(Profile.model_id == model, Profile.window_start == window.start)
    )
    rows = _rows(model, window, run_id, records)
    for start in range(0, len(rows), 5_000):
        session.execute(dialect_insert(session)(MetricRow), rows[start : start + 5_000])
    for profile in profiles:
        session.add(
            Profile(
                model_id=model,
                window_start=window.start,
                window_end=window.end,
                segment=profile.segment,
                uri=profile.uri,
                row_count=profile.row_count,
            )
        )
    enqueue_alerts(session, model, window, alerts)
    session.flush()
    return run_id


def replace_metric_families(
    session: Session,
    model: int,
    window: Window,
    prefixes: Sequence[str],
    records: Sequence[MetricRecord],
) -> int:
    """Replace only the metric families ``prefixes`` (e.g. quality, when late labels arrive)."""
    _check_keys(records)
    foreign = [r.metric for r in records if not r.metric.startswith(tuple(prefixes))]
    if foreign:
        raise ValueError(
            f"records {foreign[:3]} are outside the families {list(prefixes)} being replaced"
        )
    run = session.execute(
        select(Run).where(Run.model_id == model, Run.window_start == window.start).with_for_update()
    ).scalar_one()
    for prefix in prefixes:
        session.execute(
            delete(MetricRow).where(
                MetricRow.model_id == model,
                MetricRow.window_start == window.start,
                MetricRow.metric.startswith(prefix, autoescape=True),
            )
        )
    rows = _rows(model, window, run.id, records)
    if rows:
        session.execute(dialect_insert(session)(MetricRow), rows)
    return run.id


def enqueue_alerts(
    session: Session, model: int, window: Window | None, alerts: Sequence[AlertDraft]
) -> None:
    """Add alerts to the outbox; an alert whose (dedup key, channel) exists already is dropped."""
    for alert in alerts:
        statement = dialect_insert(session)(Alert).values(
            model_id=model,
            window_start=window.start if window else None,
            rule=alert.rule,
            severity=alert.severity,
            kind=alert.kind,
            channel=alert.channel,
            dedup_key=alert.dedup_key,
            content=alert.content,
            status="pending",
            attempts=0,
            created_at=utcnow(),
        )
        session.execute(statement.on_conflict_do_nothing(index_elements=["dedup_key", "channel"]))


def window_metrics(session: Session, model: int, window_start: datetime) -> list[MetricRecord]:
    query = select(MetricRow).where(
        MetricRow.model_id == model, MetricRow.window_start == window_start
    )
    rows = session.execute(
        query.order_by(MetricRow.metric, MetricRow.column_name, MetricRow.segment)
    )
    return [record_of(row) for row in rows.scalars()]


def record_of(row: MetricRow) -> MetricRecord:
    """A stored metric row as the record every stage speaks."""
    return MetricRecord(
        metric=row.metric,
        value=row.value,
        status=MetricStatus(row.status),
        column=row.column_name,
        segment=row.segment,
        details=dict(row.details or {}),
    )


def run_for(session: Session, model: int, window_start: datetime) -> Run | None:
    query = select(Run).where(Run.model_id == model, Run.window_start == window_start)
    return session.execute(query).scalar_one_or_none()


def completed_windows(
    session: Session, model: int, starts: Sequence[datetime], code_version: str | None = None
) -> set[datetime]:
    """Which of ``starts`` have a succeeded run (a backfill may skip them); with
    ``code_version``, only those that version computed (older code's windows are redone)."""
    query = select(Run.window_start).where(
        Run.model_id == model, Run.window_start.in_(starts), Run.status == "succeeded"
    )
    if code_version is not None:
        query = query.where(Run.code_version == code_version)
    return set(session.scalars(query))


def metric_count(session: Session, model: int, window_start: datetime) -> int:
    query = (
        select(func.count())
        .select_from(MetricRow)
        .where(MetricRow.model_id == model, MetricRow.window_start == window_start)
    )
    return int(session.execute(query).scalar_one())


@dataclass(frozen=True)
class StoredWindow:
    start: datetime
    end: datetime
    labelled_rows: int | None
    """Labelled rows when the window's quality was last computed (None: never recorded)."""
    window_rows: int | None = None
    """The window's rows when its quality was last computed (None: never recorded)."""


def stored_windows(
    session: Session, model: int, since: datetime | None = None
) -> list[StoredWindow]:
    """The model's succeeded windows, oldest first, with the label count they were scored on."""
    coverage = (
        select(MetricRow.window_start, MetricRow.details)
        .where(
            MetricRow.model_id == model,
            MetricRow.metric == Metric.LABEL_COVERAGE,
            MetricRow.column_name == "",
            MetricRow.segment == "",
        )
        .subquery()
    )
    query = (
        select(Run.window_start, Run.window_end, coverage.c.details)
        .outerjoin(coverage, coverage.c.window_start == Run.window_start)
        .where(Run.model_id == model, Run.status == "succeeded")
        .order_by(Run.window_start)
    )
    if since is not None:
        query = query.where(Run.window_start >= since)
    return [
        StoredWindow(
            start, end, (details or {}).get("labelled_rows"), (details or {}).get("window_rows")
        )
        for start, end, details in session.execute(query)
    ]
