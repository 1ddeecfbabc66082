"""Tables of the metric store. The schema itself is owned by the Alembic migrations in ``sql/``;
these models must match them (a test compares the two).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from monitoring_lib.store.text import bytes_text, fit_length, store_text

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def json_safe(value: Any) -> Any:
    """JSON that PostgreSQL accepts: non-finite floats (which JSONB rejects) become strings, and
    text (keys included) and raw bytes are made storable (``store.text``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return store_text(value)
    if isinstance(value, bytes | bytearray):
        return bytes_text(bytes(value))
    if isinstance(value, dict):
        return {json_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def json_key(key: object) -> str:
    if isinstance(key, bytes | bytearray):
        return bytes_text(bytes(key))
    return store_text(str(key))


class SafeJson(TypeDecorator[Any]):
    """JSONB on PostgreSQL, JSON elsewhere; values are made JSON-safe on the way in."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return json_safe(value)


class SafeString(TypeDecorator[str]):
    """VARCHAR(n) that takes any text: refused code points escaped, over-long values cut with a
    marker (``store.text``). Lookups bind through it too, so they find what was written."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return fit_length(store_text(value), getattr(self.impl_instance, "length", None))


class SafeText(TypeDecorator[str]):
    """TEXT that takes any text: refused code points escaped (``store.text``)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else store_text(value)


JsonType = SafeJson()

METRIC_NAME_LENGTH = 100
KEY_TEXT_LENGTH = 300
"""Longest column or segment name a metric key keeps whole (longer ones are cut, marked)."""


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps go in and come out UTC-aware, on PostgreSQL and on SQLite alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"refusing a naive datetime {value!r}: store times are UTC-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JsonType, list[Any]: JsonType}


WINDOW = "window"
"""The granularity of a model's own windows; roll-ups are stored under another."""


class Model(Base):
    __tablename__ = "models"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(SafeString(200), unique=True)
    task: Mapped[str] = mapped_column(SafeString(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    granularity: Mapped[str] = mapped_column(String(20), default=WINDOW, server_default=WINDOW)
    """``window``: the model's own windows; ``week``/``month``: its roll-ups (``<name>@week``)."""


class Run(Base):
    """The latest run of one window (a rerun replaces it)."""

    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("model_id", "window_start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(SafeString(20))
    flow_run_id: Mapped[str | None] = mapped_column(SafeString(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    timings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    code_version: Mapped[str] = mapped_column(SafeString(64))
    row_count: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(SafeText)
    report_uri: Mapped[str | None] = mapped_column(SafeText)
    report_rows: Mapped[int | None]
    """Rows of the window sampled into the HTML report (bounded for large windows)."""
    reference_hash: Mapped[str | None] = mapped_column(String(64))
    """Content hash of the reference the window was compared with (a rerun checks it)."""


class MetricRow(Base):
    """Long-format metrics; the natural key has no NULLs ('' at dataset level)."""

    __tablename__ = "metrics"
    __table_args__ = (Index(None, "model_id", "metric", "window_start"),)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(SafeString(METRIC_NAME_LENGTH), primary_key=True)
    column_name: Mapped[str] = mapped_column(SafeString(KEY_TEXT_LENGTH), primary_key=True)
    segment: Mapped[str] = mapped_column(SafeString(KEY_TEXT_LENGTH), primary_key=True)
    window_end: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    value: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(SafeString(20))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Profile(Base):
    """Where a window's serialized whylogs profile lives."""

    __tablename__ = "profiles"
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    segment: Mapped[str] = mapped_column(SafeString(300), primary_key=True)
    window_end: Mapped[datetime]
    uri: Mapped[str] = mapped_column(SafeText)
    row_count: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferenceProfile(Base):
    """The reference's profile, computed once per distinct reference content."""

    __tablename__ = "reference_profiles"
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    content_hash: Mapped[str] = mapped_column(SafeString(64), primary_key=True)
    uri: Mapped[str] = mapped_column(SafeText)
    row_count: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """The alert outbox: rows commit with the window; delivery happens after. Status: pending,
    sending (claimed, attempt counted, post under way or cut short), sent, failed."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("dedup_key", "channel"), Index(None, "status"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    window_start: Mapped[datetime | None]
    rule: Mapped[str] = mapped_column(SafeString(200))
    severity: Mapped[str] = mapped_column(SafeString(20))
    kind: Mapped[str] = mapped_column(SafeString(20))
    channel: Mapped[str] = mapped_column(SafeString(200))
    dedup_key: Mapped[str] = mapped_column(SafeString(500))
    content: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(SafeString(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(SafeText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    """When a delivery run claimed the row (status 'sending'), committed before it posts."""


class Action(Base):
    """Retrain and rollback requests and outcomes, with the reasons and metrics behind them."""

    __tablename__ = "actions"
    __table_args__ = (Index(None, "model_id", "requested_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    window_start: Mapped[datetime | None]
    kind: Mapped[str] = mapped_column(SafeString(20))
    status: Mapped[str] = mapped_column(SafeString(20))
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome: Mapped[str | None] = mapped_column(SafeText)
    decided_by: Mapped[str | None] = mapped_column(SafeString(200))
    flow_run_id: Mapped[str | None] = mapped_column(SafeString(64))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    """Wall-clock time a running retraining last said it is alive (its lease)."""


class ModelVersion(Base):
    """The built-in registry: one row per trained model version."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    version: Mapped[int]
    uri: Mapped[str] = mapped_column(SafeText)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_good: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    content_sha256: Mapped[str | None] = mapped_column(SafeString(64))
    """sha256 of the model file, checked before loading; NULL: registered before the check."""


class ModelAlias(Base):
    """Named pointers (champion, challenger) to a model version."""

    __tablename__ = "model_aliases"
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(SafeString(50), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PolicyEvaluation(Base):
    """One rule's verdict on one window (rule '' holds the overall decision); a rerun replaces."""

    __tablename__ = "policy_evaluations"
    __table_args__ = (Index(None, "model_id", "rule", "window_start"),)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(SafeString(200), primary_key=True)
    metric: Mapped[str] = mapped_column(SafeString(100))
    column_name: Mapped[str] = mapped_column(SafeString(300))
    segment: Mapped[str] = mapped_column(SafeString(300))
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    breached: Mapped[bool] = mapped_column(Boolean)
    firing: Mapped[bool] = mapped_column(Boolean)
    cleared: Mapped[bool] = mapped_column(Boolean)
    in_cooldown: Mapped[bool] = mapped_column(Boolean)
    firing_since: Mapped[datetime | None]
    decision: Mapped[str] = mapped_column(SafeString(20))
    severity: Mapped[str | None] = mapped_column(SafeString(20))
    action: Mapped[str] = mapped_column(SafeString(20))
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)
    statistics: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    """A sequential or pooled rule's statistics (CUSUM state, pooled rows); None for others."""


class QualityCount(Base):
    """A window's mergeable quality statistics: ``realised`` from labels, ``expected`` from
    calibrated probabilities (``metrics.quality.counts`` JSON); pooled rules merge them."""

    __tablename__ = "quality_counts"
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    window_end: Mapped[datetime]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    rows: Mapped[float] = mapped_column(Float)
    counts: Mapped[dict[str, Any]]
