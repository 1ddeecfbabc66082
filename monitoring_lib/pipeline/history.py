"""A model's stored windows as the time-series page shows them (``pages.timeseries``).

Read from the store alone (SQLite or PostgreSQL): runs, dataset-level metrics, per-column drift,
the policy's overall verdict per window and the action log. Each window's status is the run
summary's own (``summary.summarize``), so the page, the Prefect artifact and the report's banner
agree.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitoring_lib.io.artifacts import model_folder
from monitoring_lib.pages.html import write_atomically
from monitoring_lib.pages.timeseries import (
    PAGE_NAME,
    ColumnDrift,
    Event,
    ModelHistory,
    Series,
    WindowPoint,
    history_page,
)
from monitoring_lib.pipeline.report import evidently_drift_share
from monitoring_lib.pipeline.summary import summarize
from monitoring_lib.policy.store import OVERALL
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.models import Action, MetricRow, PolicyEvaluation, Run
from monitoring_lib.store.repository import model_id, record_of
from monitoring_lib.windows import Window

QUALITY_FAMILIES = ("quality.",)


def history_path(artifacts: Path, model: str) -> Path:
    """Where the model's page lives: beside its window reports, so their links are relative."""
    return model_folder(artifacts, model) / "reports" / PAGE_NAME


def _report_href(uri: str | None, page_folder: Path) -> str | None:
    """A report's link relative to the page, so it works from a file, a server or a bucket."""
    if not uri:
        return None
    path = Path(unquote(urlparse(uri).path)) if uri.startswith("file:") else Path(uri)
    return path.name if path.parent == page_folder else None


def _when(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def load_history(
    session: Session, spec: MonitorSpec, page_folder: Path, *, days: int = 180
) -> ModelHistory:
    """The last ``days`` of the model's stored windows."""
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    model = model_id(session, spec.name)
    if model is None:
        return ModelHistory(spec.name, generated, [])
    runs = list(
        session.scalars(select(Run).where(Run.model_id == model).order_by(Run.window_start))
    )
    if runs:
        since = _when(runs[-1].window_start) - timedelta(days=days)
        runs = [r for r in runs if _when(r.window_start) >= since]
    if not runs:
        return ModelHistory(spec.name, generated, [])
    first = runs[0].window_start
    records: dict[datetime, list[MetricRecord]] = defaultdict(list)
    rows = session.scalars(
        select(MetricRow).where(
            MetricRow.model_id == model,
            MetricRow.window_start >= first,
            MetricRow.segment == "",
        )
    )
    for row in rows:
        records[_when(row.window_start)].append(record_of(row))
    overall = {
        _when(e.window_start): e
        for e in session.scalars(
            select(PolicyEvaluation).where(
                PolicyEvaluation.model_id == model,
                PolicyEvaluation.window_start >= first,
                PolicyEvaluation.rule == OVERALL,
            )
        )
    }
    windows, starts = [], []
    for run in runs:
        start = _when(run.window_start)
        window = Window(start, _when(run.window_end), spec.window.timezone)
        verdict = overall.get(start)
        decision = verdict.decision if verdict is not None else "none"
        reasons = [str(r) for r in (verdict.reasons if verdict is not None else [])]
        summary = summarize(spec.name, window.label, records[start], decision=decision)
        windows.append(
            WindowPoint(
                label=window.label,
                status=summary.status,
                rows=run.row_count,
                drift_share=summary.drift_share,
                decision=decision,
                reasons=reasons,
                label_coverage=summary.label_coverage,
                report_href=_report_href(run.report_uri, page_folder),
            )
        )
        starts.append(start)
    return ModelHistory(
        model=spec.name,
        generated_at=generated,
        windows=windows,
        columns=_columns(starts, records),
        quality=_quality(starts, records),
        events=_events(session, model, starts),
        drift_share_threshold=evidently_drift_share(spec),
    )


def _columns(
    starts: list[datetime], records: dict[datetime, list[MetricRecord]]
) -> list[ColumnDrift]:
    by_column: dict[str, dict[datetime, MetricRecord]] = defaultdict(dict)
    for start in starts:
        for record in records[start]:
            if record.metric == Metric.DRIFT_SCORE and record.column:
                by_column[record.column][start] = record
    return [
        ColumnDrift(
            column=column,
            scores=[seen[s].value if s in seen else None for s in starts],
            drifted=[s in seen and seen[s].status is MetricStatus.DRIFT for s in starts],
        )
        for column, seen in sorted(by_column.items())
    ]


def _quality(starts: list[datetime], records: dict[datetime, list[MetricRecord]]) -> list[Series]:
    by_metric: dict[str, dict[datetime, MetricRecord]] = defaultdict(dict)
    for start in starts:
        for record in records[start]:
            if record.metric.startswith(QUALITY_FAMILIES) and not record.column:
                by_metric[record.metric][start] = record
    series = []
    for metric, seen in by_metric.items():
        values = [seen[s].value if s in seen else None for s in starts]
        if not any(v is not None for v in values):
            continue
        series.append(
            Series(
                name=metric,
                values=values,
                lower=[_detail(seen.get(s), "ci_lower") for s in starts],
                upper=[_detail(seen.get(s), "ci_upper") for s in starts],
            )
        )
    return series


def _detail(record: MetricRecord | None, key: str) -> float | None:
    value = record.details.get(key) if record is not None else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _events(session: Session, model: int, starts: list[datetime]) -> list[Event]:
    """Retrain and rollback actions, placed at the window they were decided on (or the last
    window started before they were requested)."""
    events = []
    for action in session.scalars(select(Action).where(Action.model_id == model)):
        at = _when(action.window_start or action.requested_at)
        earlier = [i for i, start in enumerate(starts) if start <= at]
        if not earlier:
            continue
        why = action.outcome or "; ".join(str(r) for r in action.reasons)
        events.append(Event(earlier[-1], action.kind, action.status, why))
    return events


def write_history_page(session: Session, spec: MonitorSpec, artifacts: Path) -> Path:
    """Regenerate the model's page from the store; returns its path."""
    path = history_path(artifacts, spec.name)
    return write_atomically(path, history_page(load_history(session, spec, path.parent)))
