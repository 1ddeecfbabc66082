"""SLOs on a real PostgreSQL store: each window persisted stores its compliance and error budget
over the period from the stored events of the windows before it; burn-rate rules read the same
events live and in a replay."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.pipeline.persist import persist_window
from monitoring_lib.pipeline.stages import ReferenceProfileInfo, WindowEvaluation
from monitoring_lib.policy.store import replay_policy
from monitoring_lib.records import Metric, MetricRecord
from monitoring_lib.spec.monitor import MonitorSpec, parse_spec
from monitoring_lib.store.repository import RunInfo, ensure_model, window_metrics
from monitoring_lib.windows import window_starting_on

pytestmark = pytest.mark.postgres

FIRST = date(2024, 6, 1)
REQUESTS = 10_000
ERRORS = [10, 12, 8, 11, 9, 10, 400, 10, 9, 11]  # day 6: an outage (4% errors)


def service_spec(folder: Path) -> MonitorSpec:
    return parse_spec(
        {
            "name": "scorer",
            "task": "regression",
            "window": {"timezone": "UTC"},
            "sources": {"predictions": {"path": "log.parquet"}, "reference": {"path": "r.parquet"}},
            "columns": {
                "timestamp": "ts",
                "id": "id",
                "numerical": ["x"],
                "prediction": "p",
                "status": "code",
            },
            "service": {
                "errors": {"at_least": 500},
                "slos": [{"name": "availability", "objective": 0.995, "period": "7d"}],
            },
            "policy": {
                "rules": [
                    {
                        "name": "availability-burn",
                        "metric": "slo.burn_rate",
                        "column": "availability",
                        "direction": "above",
                        "threshold": {"long": "3d", "short": "1d", "factor": 2},
                    }
                ]
            },
        },
        base_dir=folder,
    )


def evaluation(folder: Path, errors: int) -> WindowEvaluation:
    good = MetricRecord(
        Metric.SLO_WINDOW_GOOD,
        (REQUESTS - errors) / REQUESTS,
        column="availability",
        details={"count": REQUESTS - errors, "total": REQUESTS, "objective": 0.995},
    )
    requests = MetricRecord(Metric.SERVICE_REQUESTS, float(REQUESTS))
    reference = ReferenceProfileInfo("ref", folder / "reference.bin", 100)
    return WindowEvaluation([requests, good], REQUESTS, None, None, None, reference)


def run_info() -> RunInfo:
    now = datetime(2024, 7, 1, tzinfo=UTC)
    return RunInfo(status="succeeded", started_at=now, finished_at=now, code_version="t")


def test_compliance_budget_and_burn_rate_from_stored_windows(
    pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    spec = service_spec(tmp_path)
    windows = [
        window_starting_on(FIRST + timedelta(days=d), timedelta(days=1), "UTC") for d in range(10)
    ]
    decisions = []
    for window, errors in zip(windows, ERRORS, strict=True):
        with pg_sessions.begin() as session:
            outcome = persist_window(
                session, spec, window, run_info(), evaluation(tmp_path, errors)
            )
        decisions.append(outcome.evaluation.results[0])
    assert [d.firing for d in decisions] == [False] * 6 + [True] + [False] * 3
    assert decisions[6].decision == "alert"
    assert decisions[7].cleared

    with pg_sessions() as session:
        model = ensure_model(session, "scorer", "regression")
        stored = {r.key: r for r in window_metrics(session, model, windows[9].start)}
    compliance = stored[(Metric.SLO_COMPLIANCE, "availability", "")]
    bad = sum(ERRORS[3:10])  # the 7 windows of the period up to day 9
    assert compliance.value == pytest.approx(1 - bad / (7 * REQUESTS))
    assert compliance.details["windows"] == 7
    budget = stored[(Metric.SLO_BUDGET_REMAINING, "availability", "")]
    assert budget.value == pytest.approx(1 - bad / (7 * REQUESTS) / 0.005)
    assert budget.value is not None
    assert budget.value < 0  # the outage spent more than the week's budget
    assert outcome.records == (compliance, budget)

    # A rerun of day 6 finds the same figures: only windows up to it count, whatever came after.
    with pg_sessions() as session:
        before = {r.key: r for r in window_metrics(session, model, windows[6].start)}
    with pg_sessions.begin() as session:
        persist_window(session, spec, windows[6], run_info(), evaluation(tmp_path, ERRORS[6]))
    with pg_sessions() as session:
        after = {r.key: r for r in window_metrics(session, model, windows[6].start)}
        replayed = replay_policy(session, "scorer", spec.policy, windows[0].start, windows[9].end)
    assert (
        after[(Metric.SLO_COMPLIANCE, "availability", "")]
        == before[(Metric.SLO_COMPLIANCE, "availability", "")]
    )
    assert [e.results[0].firing for e in replayed] == [d.firing for d in decisions]
    assert [e.results[0].value for e in replayed] == pytest.approx([d.value for d in decisions])
