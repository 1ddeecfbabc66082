"""Prometheus exposition of each model's latest window, read from the store's dashboard views.

Two ways out, one set of metric families:

- ``/metrics`` (``driftwise metrics serve``): a custom collector reads the views at scrape time, so
  the endpoint always shows what the store holds and keeps no state of its own;
- a push to a Pushgateway at the end of a run (``push_after_run``), grouped by job and model, so
  one model's push never replaces another's.

Names carry their unit (``_ratio``, ``_seconds``, ``_timestamp_seconds``) and labels stay bounded
(``model``, ``column``, ``metric``): a window's time is a value, never a label. A value the store
keeps as missing (with a non-OK status) is left out rather than exported as NaN.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, push_to_gateway, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import SecretStr
from sqlalchemy import Float, Integer, String, and_, column, select, table
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Select, TableClause
from sqlalchemy.types import TypeEngine

from monitoring_lib.observability.signal_export import signal_families
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.store.engine import open_store
from monitoring_lib.store.models import UtcDateTime

log = logging.getLogger(__name__)

HEALTH_LEVELS = {"green": 0, "amber": 1, "red": 2}
"""``driftwise_model_health`` values: alert on ``>= 2`` (red) or ``>= 1`` (amber)."""
DEFAULT_PORT = 9746


# ---- reading the store ----------------------------------------------------------------------


def _view(name: str, *columns: tuple[str, TypeEngine[Any]]) -> TableClause:
    return table(name, *(column(label, kind) for label, kind in columns))


_KEY: tuple[tuple[str, TypeEngine[Any]], ...] = (
    ("model", String()),
    ("window_start", UtcDateTime()),
)
STATUS = _view("v_model_status", *_KEY, ("window_end", UtcDateTime()), ("health", String()))
RUNS = _view(
    "v_run_daily",
    *_KEY,
    ("row_count", Integer()),
    ("started_at", UtcDateTime()),
    ("finished_at", UtcDateTime()),
    ("label_coverage", Float()),
)
DRIFT = _view("v_drift_daily", *_KEY, ("drift_share", Float()), ("drifted_columns", Integer()))
COLUMNS = _view("v_column_drift_daily", *_KEY, ("column_name", String()), ("score", Float()))
QUALITY = _view("v_quality_daily", *_KEY, ("metric", String()), ("value", Float()))
SERVICE = _view(
    "v_service_daily", *_KEY, ("metric", String()), ("column_name", String()), ("value", Float())
)
SIGNALS = _view(
    "v_signal_daily", *_KEY, ("metric", String()), ("column_name", String()), ("value", Float())
)


@dataclass(frozen=True)
class ModelSnapshot:
    """The latest window of one model, as the views show it."""

    model: str
    window_end: datetime
    health: str
    row_count: int | None = None
    run_seconds: float | None = None
    label_coverage: float | None = None
    drift_share: float | None = None
    drifted_columns: int | None = None
    column_scores: Mapping[str, float] = field(default_factory=dict)
    quality: Mapping[str, float] = field(default_factory=dict)
    """Quality metric (without the ``quality.`` prefix) -> value."""
    service: Mapping[tuple[str, str], float] = field(default_factory=dict)
    """(metric, column) -> value of the ``service.*`` and ``slo.*`` metrics (column: the SLO)."""
    signals: Mapping[tuple[str, str], float] = field(default_factory=dict)
    """(signal metric, column or class) -> value, from ``v_signal_daily``."""


def _latest_join(view: TableClause, model: str | None) -> Select[Any]:
    """``view`` rows of each model's latest window (v_model_status holds exactly that window)."""
    status, rows = STATUS.c, view.c
    query = select(view).join_from(
        STATUS, view, and_(rows.model == status.model, rows.window_start == status.window_start)
    )
    return query if model is None else query.where(status.model == model)


def latest_snapshots(session: Session, model: str | None = None) -> list[ModelSnapshot]:
    """Every model's latest window (or only ``model``'s), sorted by model name."""
    status = STATUS.c
    heads = select(status.model, status.window_end, status.health).order_by(status.model)
    if model is not None:
        heads = heads.where(status.model == model)

    def rows(view: TableClause) -> list[Mapping[Any, Any]]:
        return list(session.execute(_latest_join(view, model)).mappings())

    runs = {row["model"]: row for row in rows(RUNS)}
    drift = {row["model"]: row for row in rows(DRIFT)}
    scores: dict[str, dict[str, float]] = {}
    for row in rows(COLUMNS):
        if row["score"] is not None:
            scores.setdefault(row["model"], {})[row["column_name"]] = float(row["score"])
    quality: dict[str, dict[str, float]] = {}
    for row in rows(QUALITY):
        if row["value"] is not None:
            name = str(row["metric"]).removeprefix("quality.")
            quality.setdefault(row["model"], {})[name] = float(row["value"])
    service: dict[str, dict[tuple[str, str], float]] = {}
    for row in rows(SERVICE):
        if row["value"] is not None:
            key = (str(row["metric"]), str(row["column_name"]))
            service.setdefault(row["model"], {})[key] = float(row["value"])
    signals: dict[str, dict[tuple[str, str], float]] = {}
    for row in rows(SIGNALS):
        if row["value"] is not None:
            key = (str(row["metric"]), str(row["column_name"]))
            signals.setdefault(row["model"], {})[key] = float(row["value"])
    return [
        replace(
            _snapshot(
                head, runs.get(head["model"], {}), drift.get(head["model"], {}), scores, quality
            ),
            service=service.get(head["model"], {}),
            signals=signals.get(head["model"], {}),
        )
        for head in session.execute(heads).mappings()
    ]


def _snapshot(
    head: Mapping[Any, Any],
    run: Mapping[Any, Any],
    drift: Mapping[Any, Any],
    scores: Mapping[str, dict[str, float]],
    quality: Mapping[str, dict[str, float]],
) -> ModelSnapshot:
    name: str = head["model"]
    seconds = None
    started, finished = run.get("started_at"), run.get("finished_at")
    if started is not None and finished is not None:
        seconds = max(0.0, (finished - started).total_seconds())
    return ModelSnapshot(
        model=name,
        window_end=head["window_end"],
        health=head["health"],
        row_count=run.get("row_count"),
        run_seconds=seconds,
        label_coverage=run.get("label_coverage"),
        drift_share=drift.get("drift_share"),
        drifted_columns=drift.get("drifted_columns"),
        column_scores=scores.get(name, {}),
        quality=quality.get(name, {}),
    )


# ---- metric families ------------------------------------------------------------------------


def _gauge(name: str, documentation: str, labels: Sequence[str] = ("model",)) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def metric_families(snapshots: Iterable[ModelSnapshot]) -> list[Metric]:
    """The exported families; a missing value adds no sample (absent, not NaN)."""
    snapshots = list(snapshots)
    share = _gauge("driftwise_drift_share_ratio", "Share of feature columns drifted (0-1).")
    drifted = _gauge("driftwise_drifted_columns", "Feature columns with drift in the window.")
    column_score = _gauge(
        "driftwise_column_drift_score",
        "Drift score of a feature column (the column's test statistic or p-value).",
        ("model", "column"),
    )
    quality = _gauge("driftwise_quality", "Model quality on labelled rows.", ("model", "metric"))
    coverage = _gauge("driftwise_label_coverage_ratio", "Share of rows with a label (0-1).")
    rows = _gauge("driftwise_rows", "Predictions in the latest window.")
    window_end = _gauge(
        "driftwise_last_window_end_timestamp_seconds", "End of the latest window (Unix time)."
    )
    duration = _gauge("driftwise_run_duration_seconds", "Wall time of the latest window's run.")
    health = _gauge("driftwise_model_health", "Latest window: 0 green, 1 amber, 2 red.")
    for snap in snapshots:
        labels = [snap.model]
        _add(share, labels, snap.drift_share)
        _add(drifted, labels, snap.drifted_columns)
        _add(coverage, labels, snap.label_coverage)
        _add(rows, labels, snap.row_count)
        _add(duration, labels, snap.run_seconds)
        _add(health, labels, HEALTH_LEVELS.get(snap.health))
        window_end.add_metric(labels, snap.window_end.timestamp())
        for name, score in sorted(snap.column_scores.items()):
            _add(column_score, [snap.model, name], score)
        for name, value in sorted(snap.quality.items()):
            _add(quality, [snap.model, name], value)
    families = [share, drifted, column_score, quality, coverage, rows, window_end, duration]
    signals = signal_families((snap.model, snap.signals) for snap in snapshots)
    return [*families, health, *service_families(snapshots), *signals]


SERVICE_GAUGES = {  # metric -> (family, help, label holding the column or None)
    "service.requests": ("driftwise_service_requests", "Requests in the latest window.", None),
    "service.error_share": (
        "driftwise_service_error_ratio", "Share of requests with an error (0-1).", None
    ),
    "slo.compliance": (
        "driftwise_slo_compliance_ratio", "Share of good events over the SLO's period.", "slo"
    ),
    "slo.budget_remaining": (
        "driftwise_slo_error_budget_remaining_ratio",
        "Share of the SLO's error budget left over its period (negative: overspent).", "slo",
    ),
}  # fmt: skip
LATENCY = {
    "service.latency_p50": "0.5",
    "service.latency_p95": "0.95",
    "service.latency_p99": "0.99",
}


def service_families(snapshots: Iterable[ModelSnapshot]) -> list[Metric]:
    """Service health (RED) and SLOs of each model's latest window."""
    snapshots = list(snapshots)
    families = {
        metric: _gauge(name, text, ("model", label) if label else ("model",))
        for metric, (name, text, label) in SERVICE_GAUGES.items()
    }
    latency = _gauge(
        "driftwise_service_latency_milliseconds",
        "Latency percentile of the latest window.",
        ("model", "quantile"),
    )
    for snap in snapshots:
        for (metric, slo), value in sorted(snap.service.items()):
            if metric in LATENCY:
                _add(latency, [snap.model, LATENCY[metric]], value)
            elif metric in families:
                labels = [snap.model, slo] if SERVICE_GAUGES[metric][2] else [snap.model]
                _add(families[metric], labels, value)
    return [*families.values(), latency]


def _add(family: GaugeMetricFamily, labels: list[str], value: float | None) -> None:
    if value is not None:
        family.add_metric(labels, float(value))


class StoreCollector(Collector):
    """Reads the store at each scrape. An unreadable store gives ``driftwise_store_up 0`` (and a
    log line) instead of a failed scrape, so Prometheus can alert on it."""

    def __init__(self, sessions: sessionmaker[Session], model: str | None = None) -> None:
        self._sessions, self._model = sessions, model

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not query the store

    def collect(self) -> Iterator[Metric]:
        up = _gauge("driftwise_store_up", "1 when the exporter could read the metric store.", ())
        try:
            with self._sessions() as session:
                snapshots = latest_snapshots(session, self._model)
        except SQLAlchemyError as error:
            log.warning("metric store unreadable: %s", type(error).__name__)
            up.add_metric([], 0.0)
            yield up
            return
        yield from metric_families(snapshots)
        up.add_metric([], 1.0)
        yield up


class _Fixed(Collector):
    def __init__(self, families: Sequence[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def store_registry(sessions: sessionmaker[Session]) -> CollectorRegistry:
    """A registry of only the store's families (no process or Python metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(sessions))
    return registry


def start_metrics_server(
    sessions: sessionmaker[Session], host: str = "127.0.0.1", port: int = DEFAULT_PORT
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``/metrics`` from a daemon thread; ``port=0`` picks a free port
    (``server.server_port``). Stop with ``server.shutdown()``."""
    return start_http_server(port, addr=host, registry=store_registry(sessions))


# ---- pushing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushResult:
    ok: bool
    message: str
    """What happened, fit for a log line: the gateway's credentials are never in it."""


def _shown(url: str) -> str:
    """The gateway URL without user and password."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()


def push_model_metrics(
    sessions: sessionmaker[Session],
    model: str,
    gateway_url: SecretStr,
    *,
    job: str = "driftwise",
    timeout: float = 10.0,
) -> PushResult:
    """Push ``model``'s latest values, replacing the group (job, model). Never raises: a run's
    results are already stored, and a gateway that is down must not fail it."""
    url = gateway_url.get_secret_value()
    shown = _shown(url)
    try:
        with sessions() as session:
            snapshots = latest_snapshots(session, model)
        if not snapshots:
            return PushResult(False, f"{model}: nothing stored yet, nothing pushed to {shown}")
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Fixed(metric_families(snapshots)))
        push_to_gateway(url, job, registry, grouping_key={"model": model}, timeout=timeout)
    except (OSError, SQLAlchemyError, ValueError) as error:
        text = f"{type(error).__name__}: {error}".replace(url, shown).splitlines()[0][:500]
        return PushResult(False, f"{model}: push to {shown} failed: {text}")
    return PushResult(
        True, f"{model}: pushed {len(snapshots[0].column_scores)} column(s) to {shown}"
    )


def push_after_run(
    model: str, store_url: URL | str, settings: DriftwiseSettings | None = None
) -> PushResult | None:
    """Call at the end of a run: push ``model``'s latest values when a Pushgateway is configured
    (DRIFTWISE_PUSHGATEWAY_URL); None when it is not."""
    settings = settings or DriftwiseSettings()
    if settings.pushgateway_url is None:
        return None
    return push_model_metrics(
        open_store(store_url),
        model,
        settings.pushgateway_url,
        job=settings.pushgateway_job,
        timeout=settings.pushgateway_timeout_seconds,
    )
