"""Prometheus exposition from a real (SQLite) store: families, labels, absent values, the HTTP
endpoint, a push that fails without leaking credentials, and the CLI."""

from __future__ import annotations

import math
import socket
import urllib.request
from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from driftwise.cli_metrics import metrics_app
from monitoring_lib.observability.prometheus import (
    ModelSnapshot,
    metric_families,
    push_after_run,
    push_model_metrics,
    start_metrics_server,
    store_registry,
)
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.store.engine import session_factory
from monitoring_lib.store.repository import RunInfo, ensure_model, replace_window
from monitoring_lib.windows import window_starting_on

DAY = timedelta(days=1)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def store_window(
    sessions: sessionmaker[Session],
    model: str,
    day: date,
    *,
    share: float = 0.5,
    accuracy: float | None = 0.8,
    run_seconds: float = 12.5,
) -> None:
    """One window: two drift scores (one drifted), the share, quality and coverage."""
    window = window_starting_on(day, DAY, "UTC")
    started = window.end + timedelta(hours=1)
    records = [
        MetricRecord(Metric.DRIFT_SCORE, 0.01, MetricStatus.DRIFT, column="income"),
        MetricRecord(Metric.DRIFT_SCORE, 0.4, MetricStatus.OK, column="age"),
        MetricRecord(Metric.DRIFT_SHARE, share, MetricStatus.DRIFT if share > 0.3 else "ok"),
        MetricRecord(Metric.LABEL_COVERAGE, 0.25),
        MetricRecord(Metric.ROW_COUNT, 400.0),
        MetricRecord(Metric.F1, None, MetricStatus.SKIPPED, details={"reason": "one class"}),
    ]
    if accuracy is not None:
        records.append(MetricRecord(Metric.ACCURACY, accuracy))
    records += [
        MetricRecord(Metric.MULTIVARIATE_ERROR, 2.5 + share, MetricStatus.OK),
        MetricRecord(Metric.MULTIVARIATE_DRIFT, 0.0, MetricStatus.OK),
        MetricRecord(Metric.LOW_CONFIDENCE_SHARE, 0.07),
        MetricRecord(Metric.CLASS_SHARE, 0.9, column="0"),
        MetricRecord(Metric.DRIFT_IMPACT, 0.6, MetricStatus.WARNING, column="income"),
        MetricRecord(Metric.DRIFT_IMPACT, None, MetricStatus.INSUFFICIENT_DATA, column="age",
                     details={"reason": "not enough history"}),
    ]  # fmt: skip
    run = RunInfo(
        status="succeeded",
        started_at=started,
        finished_at=started + timedelta(seconds=run_seconds),
        code_version="t",
        row_count=400,
    )
    with sessions.begin() as session:
        replace_window(session, ensure_model(session, model, "binary"), window, run, records)


def parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.fixture
def sessions(sqlite_engine: Engine) -> sessionmaker[Session]:
    return session_factory(sqlite_engine)


@pytest.fixture
def filled(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    store_window(sessions, "credit", date(2024, 5, 1), share=0.0, accuracy=0.9)
    store_window(sessions, "credit", date(2024, 5, 2), share=0.5, accuracy=0.8)
    store_window(sessions, "churn", date(2024, 5, 1), share=0.0, accuracy=None, run_seconds=3)
    return sessions


def test_the_latest_window_of_each_model_is_exported(filled: sessionmaker[Session]) -> None:
    samples = parse(generate_latest(store_registry(filled)).decode())
    credit = (("model", "credit"),)
    assert samples[("driftwise_drift_share_ratio", credit)] == 0.5  # the 2nd window, not the 1st
    assert samples[("driftwise_drifted_columns", credit)] == 1
    assert samples[("driftwise_quality", (("metric", "accuracy"), *credit))] == 0.8
    assert samples[("driftwise_label_coverage_ratio", credit)] == 0.25
    assert samples[("driftwise_rows", credit)] == 400
    assert samples[("driftwise_run_duration_seconds", credit)] == 12.5
    assert samples[("driftwise_run_duration_seconds", (("model", "churn"),))] == 3
    assert samples[("driftwise_last_window_end_timestamp_seconds", credit)] == (
        datetime(2024, 5, 3, tzinfo=UTC).timestamp()
    )
    assert samples[("driftwise_column_drift_score", (("column", "income"), *credit))] == 0.01
    assert samples[("driftwise_model_health", credit)] == 2  # drift.share with status drift: red
    assert samples[("driftwise_model_health", (("model", "churn"),))] == 1  # a drifted column
    assert samples[("driftwise_store_up", ())] == 1
    nothing = (("column", ""), *credit)
    assert samples[("driftwise_multivariate_reconstruction_error", nothing)] == 3.0  # latest
    assert samples[("driftwise_multivariate_drift", nothing)] == 0
    assert samples[("driftwise_low_confidence_ratio", nothing)] == 0.07
    assert samples[("driftwise_predicted_class_ratio", (("column", "0"), *credit))] == 0.9
    assert samples[("driftwise_drift_impact", (("column", "income"), *credit))] == 0.6
    assert ("driftwise_drift_impact", (("column", "age"), *credit)) not in samples  # no value


def test_missing_values_are_absent_not_nan(filled: sessionmaker[Session]) -> None:
    samples = parse(generate_latest(store_registry(filled)).decode())
    assert not any(math.isnan(value) for value in samples.values())
    assert ("driftwise_quality", (("metric", "f1"), ("model", "credit"))) not in samples
    assert not any(k[0] == "driftwise_quality" and ("model", "churn") in k[1] for k in samples)


def test_labels_are_bounded_and_names_carry_units() -> None:
    snapshot = ModelSnapshot(
        model="m",
        window_end=datetime(2024, 5, 2, tzinfo=UTC),
        health="amber",
        drift_share=0.1,
        column_scores={"a": 0.2},
        quality={"rmse": 1.5},
    )
    for family in metric_families([snapshot]):
        for sample in family.samples:
            assert set(sample.labels) <= {"model", "column", "metric"}
            assert "window" not in sample.name or sample.name.endswith("_timestamp_seconds")
    names = {family.name for family in metric_families([snapshot])}
    assert "driftwise_drift_share_ratio" in names
    assert "driftwise_run_duration_seconds" in names


def test_an_unreadable_store_reports_store_up_zero(sqlite_engine: Engine) -> None:
    empty = session_factory(sqlite_engine)
    with sqlite_engine.begin() as connection:
        connection.exec_driver_sql("DROP VIEW v_model_status")
    samples = parse(generate_latest(store_registry(empty)).decode())
    assert samples == {("driftwise_store_up", ()): 0.0}


def test_the_http_endpoint_reads_the_store_at_each_scrape(sessions: sessionmaker[Session]) -> None:
    server, thread = start_metrics_server(sessions, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            before = parse(response.read().decode())
        store_window(sessions, "credit", date(2024, 5, 1), share=0.75)
        with urllib.request.urlopen(url, timeout=5) as response:
            after = parse(response.read().decode())
    finally:
        server.shutdown()
        thread.join(timeout=5)
    assert ("driftwise_drift_share_ratio", (("model", "credit"),)) not in before
    assert after[("driftwise_drift_share_ratio", (("model", "credit"),))] == 0.75


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_failed_push_is_a_result_without_the_credentials(filled: sessionmaker[Session]) -> None:
    url = SecretStr(f"http://pusher:s3cr3t-pw@127.0.0.1:{_closed_port()}")
    result = push_model_metrics(filled, "credit", url, timeout=2)
    assert not result.ok
    assert "s3cr3t-pw" not in result.message
    assert "127.0.0.1" in result.message


def test_nothing_to_push_for_an_unknown_model(filled: sessionmaker[Session]) -> None:
    result = push_model_metrics(filled, "nobody", SecretStr("http://127.0.0.1:1"))
    assert not result.ok
    assert "nothing stored" in result.message


def test_push_after_run_does_nothing_without_a_gateway(sqlite_engine: Engine) -> None:
    assert push_after_run("credit", sqlite_engine.url, DriftwiseSettings()) is None


def test_cli_show_prints_the_exposition(
    filled: sessionmaker[Session], sqlite_engine: Engine
) -> None:
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(metrics_app, ["show", "--url", url])
    assert result.exit_code == 0, result.output
    assert 'driftwise_drift_share_ratio{model="credit"} 0.5' in result.output


def test_cli_push_without_a_gateway_says_what_to_set(sqlite_engine: Engine) -> None:
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(metrics_app, ["push", "credit", "--url", url])
    assert result.exit_code == 1
    assert "DRIFTWISE_PUSHGATEWAY_URL" in result.output


def test_service_health_and_slos_are_exported(sessions: sessionmaker[Session]) -> None:
    window = window_starting_on(date(2024, 5, 1), DAY, "UTC")
    records = [
        MetricRecord(Metric.SERVICE_REQUESTS, 1200.0),
        MetricRecord(Metric.SERVICE_ERROR_SHARE, 0.004),
        MetricRecord(Metric.SERVICE_LATENCY_P95, 180.0),
        MetricRecord(Metric.SLO_COMPLIANCE, 0.996, column="availability"),
        MetricRecord(Metric.SLO_BUDGET_REMAINING, -0.2, MetricStatus.WARNING, column="fast"),
        MetricRecord(
            Metric.SERVICE_LATENCY_P99,
            None,
            MetricStatus.INSUFFICIENT_DATA,
            details={"reason": "no latency"},
        ),
    ]
    run = RunInfo(status="succeeded", started_at=window.end, finished_at=window.end,
                  code_version="t")  # fmt: skip
    with sessions.begin() as session:
        replace_window(session, ensure_model(session, "svc", "binary"), window, run, records)
    samples = parse(generate_latest(store_registry(sessions)).decode())
    svc = (("model", "svc"),)
    assert samples[("driftwise_service_requests", svc)] == 1200
    assert samples[("driftwise_service_error_ratio", svc)] == 0.004
    assert samples[("driftwise_service_latency_milliseconds", (*svc, ("quantile", "0.95")))] == 180
    assert ("driftwise_service_latency_milliseconds", (*svc, ("quantile", "0.99"))) not in samples
    assert samples[("driftwise_slo_compliance_ratio", (*svc, ("slo", "availability")))] == 0.996
    assert samples[("driftwise_slo_error_budget_remaining_ratio", (*svc, ("slo", "fast")))] == -0.2
