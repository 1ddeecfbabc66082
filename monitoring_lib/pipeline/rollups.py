"""Weekly and monthly roll-ups: a completed week (Monday to Monday, local time) or month merged
from what the store keeps of its windows, never from the raw data again.

A roll-up stores, as a window of its own under the models row ``<model>@week`` (or ``@month``,
``models.granularity``), so daily keys, rules and views never meet it:

- ``window.row_count`` and ``rollup.windows`` (how many stored windows it merges, and how many
  the period holds, in details);
- the profile summary (``profile.*``) and data-quality checks (``dq.*``) of the windows' whylogs
  profiles merged, against the reference profile of the latest window (the merged profile is
  written beside the daily ones);
- ``quality.*`` and ``estimated.*`` from the windows' quality counts pooled (exactly the metric
  of all the period's labelled rows, with its interval), and those counts themselves;
- ``service.*`` and ``slo.window_good`` from the windows' stored events summed, latency
  percentiles from the merged profile's KLL sketch.

**No drift is stored for a roll-up.** The drift verdicts are computed from the raw values of a
window against the reference (exact statistics, calibrated p-values); a merged profile holds
sketches, from which those statistics are not the same numbers, so a roll-up does not pretend to
have them. Judge drift per window (``drift.share`` with ``persistence``), or a roll-up's profile
quantiles and data-quality checks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.io.artifacts import model_folder
from monitoring_lib.metrics import profiling
from monitoring_lib.metrics.quality.counts import QualityCounts, counts_from_json, pool
from monitoring_lib.metrics.quality.values import quality_values
from monitoring_lib.metrics.service import PERCENTILES, sketched_percentiles
from monitoring_lib.pipeline.alerting import queue_breach_alerts
from monitoring_lib.pipeline.counts_store import store_quality_counts
from monitoring_lib.pipeline.stages import artifact_label, profile_records, row_count_record
from monitoring_lib.policy.rules import Evaluation
from monitoring_lib.policy.slo import slo_period_records
from monitoring_lib.policy.store import decide_stored_window
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.models import (
    MetricRow,
    Model,
    Profile,
    QualityCount,
    ReferenceProfile,
    Run,
    utcnow,
)
from monitoring_lib.store.repository import (
    ProfileRef,
    RunInfo,
    dialect_insert,
    model_id,
    record_of,
    replace_window,
)
from monitoring_lib.windows import Window

ROLLUP_WINDOWS = "rollup.windows"
"""Stored windows a roll-up merges (details: ``expected``, the windows its period holds)."""


def rollup_name(model: str, granularity: str) -> str:
    return f"{model}@{granularity}"


def _first_of(granularity: str, day: date) -> date:
    return day - timedelta(days=day.weekday()) if granularity == "week" else day.replace(day=1)


def _after(granularity: str, first: date) -> date:
    if granularity == "week":
        return first + timedelta(days=7)
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def periods_ending_in(
    granularity: str, timezone: str, start: datetime, end: datetime
) -> list[Window]:
    """The weeks or months (local midnight to local midnight) that end in (start, end]."""
    zone = ZoneInfo(timezone)
    first = _first_of(granularity, start.astimezone(zone).date() - timedelta(days=31))
    periods: list[Window] = []
    while True:
        following = _after(granularity, first)
        begin = datetime.combine(first, datetime.min.time(), zone)
        finish = datetime.combine(following, datetime.min.time(), zone)
        if finish > end:
            return periods
        if finish > start:
            periods.append(Window(begin, finish, timezone))
        first = following


@dataclass(frozen=True)
class Rollup:
    granularity: str
    period: Window
    windows: int
    records: list[MetricRecord]
    evaluation: Evaluation


def _stored_runs(session: Session, model: int, period: Window) -> list[Run]:
    query = select(Run).where(
        Run.model_id == model,
        Run.window_start >= period.start,
        Run.window_start < period.end,
        Run.status == "succeeded",
    )
    return list(session.execute(query.order_by(Run.window_start)).scalars())


def _merged_profile(
    session: Session, model: int, starts: Sequence[datetime]
) -> profiling.DatasetProfileView:
    query = select(Profile.uri).where(
        Profile.model_id == model, Profile.window_start.in_(starts), Profile.segment == ""
    )
    uris = list(session.execute(query.order_by(Profile.window_start)).scalars())
    return profiling.merge_views(profiling.read_view(_path(uri)) for uri in uris)


def _path(uri: str) -> Path:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme else Path(uri)


def _reference_view(
    session: Session, model: int, content_hash: str | None
) -> profiling.DatasetProfileView | None:
    if content_hash is None:
        return None
    uri = session.execute(
        select(ReferenceProfile.uri).where(
            ReferenceProfile.model_id == model, ReferenceProfile.content_hash == content_hash
        )
    ).scalar_one_or_none()
    return profiling.read_view(_path(uri)) if uri else None


def _pooled_quality(
    session: Session, model: int, starts: Sequence[datetime]
) -> tuple[list[MetricRecord], dict[str, QualityCounts]]:
    rows = session.execute(
        select(QualityCount.kind, QualityCount.counts).where(
            QualityCount.model_id == model, QualityCount.window_start.in_(starts)
        )
    ).all()
    by_kind: dict[str, list[QualityCounts]] = {}
    for kind, data in rows:
        by_kind.setdefault(kind, []).append(counts_from_json(data))
    pooled = {kind: pool(items) for kind, items in by_kind.items()}
    records = [
        value.record(pooled_windows=len(by_kind[kind]), rows=float(counts.rows))
        for kind, counts in pooled.items()
        for value in quality_values(counts)
    ]
    return records, pooled


def _summed_service(
    session: Session,
    model: int,
    starts: Sequence[datetime],
    view: profiling.DatasetProfileView,
    spec: MonitorSpec,
) -> list[MetricRecord]:
    """The windows' service events added up; latency percentiles from the merged sketch."""
    if not spec.columns.service_columns:
        return []
    query = select(MetricRow).where(
        MetricRow.model_id == model,
        MetricRow.window_start.in_(starts),
        MetricRow.segment == "",
        MetricRow.metric.in_([Metric.SERVICE_REQUESTS.value, Metric.SERVICE_ERROR_SHARE.value,
                              Metric.SLO_WINDOW_GOOD.value]),
    )  # fmt: skip
    sums: dict[tuple[str, str], list[float]] = {}
    for row in session.execute(query).scalars():
        record = record_of(row)
        if record.metric == Metric.SERVICE_REQUESTS:
            part, total = record.value or 0.0, record.value or 0.0
        else:
            part, total = (
                float(record.details.get("count", 0)),
                float(record.details.get("total", 0)),
            )
        counted = sums.setdefault(record.key[:2], [0.0, 0.0])
        counted[0] += part
        counted[1] += total
    records = []
    for (metric, column), (part, total) in sorted(sums.items()):
        if metric == Metric.SERVICE_REQUESTS:
            records.append(MetricRecord(metric, total))
            continue
        details: dict[str, object] = {"count": part, "total": total}
        if metric == Metric.SLO_WINDOW_GOOD and (slo := spec.service.slo(column)) is not None:
            details.update(objective=slo.objective, kind=slo.kind)
        if total == 0:
            lacking = MetricStatus.INSUFFICIENT_DATA
            details["reason"] = "no event counted"
            records.append(MetricRecord(metric, None, lacking, column, details=details))
        else:
            records.append(MetricRecord(metric, part / total, column=column, details=details))
    if spec.columns.latency:
        percentiles = sketched_percentiles(view, spec.columns.latency)
        for metric, _ in PERCENTILES:
            if (value := percentiles.get(str(metric))) is not None:
                records.append(MetricRecord(metric, value, details={"exact": False, "unit": "ms"}))
    return records


def rollup_model_ids(session: Session, spec: MonitorSpec) -> list[int]:
    """The models rows of the spec's roll-ups that exist: their alerts are the model's too."""
    names = [rollup_name(spec.name, granularity) for granularity in spec.rollups]
    return list(session.execute(select(Model.id).where(Model.name.in_(names))).scalars())


def rollup_model(session: Session, spec: MonitorSpec, granularity: str) -> int:
    """The roll-up's own models row (``<model>@<granularity>``), created when missing; safe when
    two runs race to create it."""
    name = rollup_name(spec.name, granularity)
    values = {"name": name, "task": spec.task.value, "granularity": granularity}
    session.execute(dialect_insert(session)(Model).values(**values).on_conflict_do_nothing())
    found = session.execute(select(Model).where(Model.name == name)).scalar_one()
    if found.granularity != granularity:
        raise ValueError(f"model name {name!r} is taken by a model of its own: rename one of them")
    return found.id


def compute_rollup(
    session: Session,
    spec: MonitorSpec,
    granularity: str,
    period: Window,
    artifacts: Path,
    *,
    raise_alerts: bool = False,
) -> Rollup | None:
    """Merge, store and judge one completed period (in the caller's transaction) and queue the
    alerts its rules raise when asked; None when no window of it is stored."""
    model = model_id(session, spec.name)
    runs = _stored_runs(session, model, period) if model is not None else []
    if model is None or not runs:
        return None
    starts = [run.window_start for run in runs]
    view = _merged_profile(session, model, starts)
    reference = _reference_view(session, model, runs[-1].reference_hash)
    rows = sum(run.row_count or 0 for run in runs)
    expected = round((period.end - period.start) / (runs[0].window_end - runs[0].window_start))
    records = [
        row_count_record(rows),
        MetricRecord(ROLLUP_WINDOWS, float(len(runs)), details={"expected": expected}),
    ]
    if reference is not None:
        records += profile_records(spec, reference, view)
    quality, counts = _pooled_quality(session, model, starts)
    records += quality + _summed_service(session, model, starts, view, spec)
    rolled = rollup_model(session, spec, granularity)
    records += slo_period_records(session, rolled, spec.service.slos, period.start, records)
    folder = model_folder(artifacts, spec.name) / "rollups" / granularity
    path = profiling.write_view(view, folder / f"{artifact_label(period.label)}.bin")
    now = utcnow()
    run = RunInfo(
        status="succeeded", started_at=now, finished_at=now, code_version="rollup", row_count=rows
    )
    run_id = replace_window(
        session, rolled, period, run, records, [ProfileRef(path.as_uri(), rows)]
    )
    store_quality_counts(session, rolled, period, run_id, counts)
    session.flush()
    verdict = decide_stored_window(
        session,
        rollup_name(spec.name, granularity),
        spec.policy,
        period.start,
        granularity=granularity,
    )
    if raise_alerts and spec.alerts.channels:
        name = rollup_name(spec.name, granularity)
        policy = spec.policy.at(granularity)
        queue_breach_alerts(session, spec, rolled, name, period, verdict, records, policy=policy)
    return Rollup(granularity, period, len(runs), records, verdict)


def completed_periods(
    spec: MonitorSpec, start: datetime, end: datetime
) -> Iterator[tuple[str, Window]]:
    """Every roll-up period of the spec that completes in (start, end]."""
    for granularity in spec.rollups:
        for period in periods_ending_in(granularity, spec.window.timezone, start, end):
            yield granularity, period


def fill_rollups(
    sessions: sessionmaker[Session],
    spec: MonitorSpec,
    start: datetime,
    end: datetime,
    artifacts: Path,
    *,
    raise_alerts: bool = False,
) -> list[Rollup]:
    """Compute and store every roll-up that completes in (start, end], each in its own
    transaction: a monitor run fills the week or month its window completes, a backfill every
    one of its range. A rerun replaces a roll-up exactly (and raises no alert twice)."""
    done = []
    for granularity, period in completed_periods(spec, start, end):
        with sessions.begin() as session:
            rollup = compute_rollup(
                session, spec, granularity, period, artifacts, raise_alerts=raise_alerts
            )
        if rollup is not None:
            done.append(rollup)
    return done
