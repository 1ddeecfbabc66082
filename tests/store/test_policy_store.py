"""The policy against a real PostgreSQL store: evaluations persisted, state read back, replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from driftwise.cli_policy import policy_app
from monitoring_lib.policy.rules import RuleState
from monitoring_lib.policy.store import (
    champion_baseline,
    decide_stored_window,
    previous_states,
    replay_policy,
)
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.base import Decision, Severity
from monitoring_lib.spec.policy import PolicySpec
from monitoring_lib.store.models import ModelAlias, ModelVersion, PolicyEvaluation
from monitoring_lib.store.repository import RunInfo, UnknownModelError, ensure_model, replace_window
from monitoring_lib.windows import Window

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 5, 1, tzinfo=UTC)
DAY = timedelta(days=1)
MODEL = "credit"


def policy(*rules: dict[str, Any], **settings: Any) -> PolicySpec:
    return PolicySpec.model_validate({"rules": list(rules), **settings})


DRIFT = {
    "name": "drift",
    "metric": "drift.share",
    "direction": "above",
    "threshold": 0.5,
    "action": "retrain",
}
ACCURACY = {
    "name": "accuracy",
    "metric": "quality.accuracy",
    "direction": "below",
    "threshold": {"delta": -0.05},
    "severity": "critical",
    "action": "rollback",
}


def store_window(
    sessions: sessionmaker[Session], day: int, drift: float, accuracy: float | None = 0.9
) -> None:
    records = [MetricRecord(Metric.DRIFT_SHARE, drift)]
    if accuracy is None:
        reason = {"reason": "no labels yet"}
        records.append(
            MetricRecord(Metric.ACCURACY, None, MetricStatus.INSUFFICIENT_DATA, details=reason)
        )
    else:
        records.append(MetricRecord(Metric.ACCURACY, accuracy))
    now = datetime.now(UTC)
    run = RunInfo(status="succeeded", started_at=now, finished_at=now, code_version="test")
    window = Window(T0 + day * DAY, T0 + (day + 1) * DAY)
    with sessions.begin() as session:
        replace_window(session, ensure_model(session, MODEL, "binary"), window, run, records)


def set_champion(sessions: sessionmaker[Session], metrics: dict[str, Any], version: int) -> None:
    with sessions.begin() as session:
        model = ensure_model(session, MODEL, "binary")
        row = ModelVersion(
            model_id=model, version=version, uri=f"file:///v{version}", metrics=metrics
        )
        session.add(row)
        session.flush()
        session.merge(ModelAlias(model_id=model, alias="champion", version_id=row.id))


def evaluation_rows(sessions: sessionmaker[Session]) -> list[PolicyEvaluation]:
    with sessions() as session:
        query = select(PolicyEvaluation).order_by(
            PolicyEvaluation.window_start, PolicyEvaluation.rule
        )
        return list(session.execute(query).scalars())


def test_an_evaluation_is_persisted_and_a_rerun_replaces_it(
    pg_sessions: sessionmaker[Session],
) -> None:
    set_champion(pg_sessions, {"quality.accuracy": 0.91}, version=1)
    store_window(pg_sessions, 0, drift=0.7, accuracy=0.8)
    with pg_sessions.begin() as session:
        first = decide_stored_window(session, MODEL, policy(DRIFT, ACCURACY), T0)
    assert first.decision is Decision.ROLLBACK
    rows = {row.rule: row for row in evaluation_rows(pg_sessions)}
    assert set(rows) == {"", "drift", "accuracy"}
    accuracy = rows["accuracy"]
    assert (accuracy.metric, accuracy.column_name, accuracy.segment) == ("quality.accuracy", "", "")
    assert accuracy.value == pytest.approx(0.8)
    assert accuracy.threshold == pytest.approx(0.86)
    assert (accuracy.breached, accuracy.firing, accuracy.decision) == (True, True, "rollback")
    assert (accuracy.severity, accuracy.action, accuracy.firing_since) == (
        "critical",
        "rollback",
        T0,
    )
    assert "champion's 0.91 - 0.05" in accuracy.reasons[0]
    assert rows["drift"].decision == "none"  # superseded by the rollback
    assert (rows[""].decision, rows[""].severity) == ("rollback", "critical")
    assert rows[""].reasons == list(first.reasons)

    store_window(pg_sessions, 0, drift=0.1, accuracy=0.95)  # the window is rerun
    with pg_sessions.begin() as session:
        decide_stored_window(session, MODEL, policy(DRIFT, ACCURACY), T0)
    rerun = evaluation_rows(pg_sessions)
    assert len(rerun) == 3
    assert {row.rule: row.decision for row in rerun} == {
        "": "none",
        "drift": "none",
        "accuracy": "none",
    }
    assert all(not row.firing for row in rerun)


def evaluate_then_fail(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        decide_stored_window(session, MODEL, policy(DRIFT), T0)
        raise RuntimeError("a later step of the window failed")


def test_a_failed_transaction_leaves_no_evaluation(pg_sessions: sessionmaker[Session]) -> None:
    store_window(pg_sessions, 0, drift=0.7)
    with pytest.raises(RuntimeError, match="later step"):
        evaluate_then_fail(pg_sessions)
    assert evaluation_rows(pg_sessions) == []


def test_state_read_back_from_the_store_matches_the_replay(
    pg_sessions: sessionmaker[Session],
) -> None:
    oscillating = {**DRIFT, "clear": 0.45}
    rules = policy(oscillating, {**ACCURACY, "action": "alert", "cooldown": "2d"})
    for day in range(12):
        store_window(
            pg_sessions, day, drift=0.6 if day % 3 else 0.4, accuracy=None if day == 5 else 0.8
        )
    set_champion(pg_sessions, {"quality.accuracy": 0.9}, version=1)
    live = []
    for day in range(12):
        with pg_sessions.begin() as session:
            live.append(decide_stored_window(session, MODEL, rules, T0 + day * DAY))
    with pg_sessions() as session:
        before = session.execute(select(func.count()).select_from(PolicyEvaluation)).scalar_one()
        replayed = replay_policy(session, MODEL, rules, T0, T0 + 12 * DAY)
        after = session.execute(select(func.count()).select_from(PolicyEvaluation)).scalar_one()
        state = previous_states(session, ensure_model(session, MODEL, "binary"), T0 + 12 * DAY)
    assert before == after == 12 * 3  # the replay wrote nothing
    assert replayed == live
    retrains = [e.window_start for e in live if e.decision is Decision.RETRAIN]
    assert retrains == [T0 + DAY, T0 + 8 * DAY]  # one per 7-day cooldown
    assert state["drift"] == RuleState(
        firing_since=T0 + 10 * DAY,  # cleared by day 9's 0.4, fired again on day 10
        last_action_at=T0 + 8 * DAY,
        last_action=Decision.RETRAIN,
        last_severity=Severity.WARNING,
    )
    assert state["accuracy"].last_action is Decision.ALERT
    assert "no data: quality.accuracy has no usable value (insufficient_data: no labels yet)" in (
        live[5].result("accuracy").reason
    )


def test_replay_learns_from_windows_before_its_start(pg_sessions: sessionmaker[Session]) -> None:
    learned = {**DRIFT, "threshold": {"window": 5, "k": 3}, "action": "alert"}
    for day, drift in enumerate([0.10, 0.12, 0.11, 0.09, 0.10, 0.11, 0.60]):
        store_window(pg_sessions, day, drift=drift)
    with pg_sessions() as session:
        evaluations = replay_policy(session, MODEL, policy(learned), T0 + 5 * DAY, T0 + 7 * DAY)
    assert [e.window_start for e in evaluations] == [T0 + 5 * DAY, T0 + 6 * DAY]
    assert all(e.result("drift").threshold is not None for e in evaluations)
    assert [e.decision for e in evaluations] == [Decision.NONE, Decision.ALERT]


def test_the_baseline_is_the_champion_versions_metrics(pg_sessions: sessionmaker[Session]) -> None:
    store_window(pg_sessions, 0, drift=0.1, accuracy=0.84)
    with pg_sessions() as session:
        no_champion = replay_policy(session, MODEL, policy(ACCURACY), T0, T0 + DAY)[0]
    assert no_champion.decision is Decision.NONE
    assert "no champion baseline for quality.accuracy" in no_champion.result("accuracy").reason

    set_champion(pg_sessions, {"quality.accuracy": 0.91, "note": "v1", "flag": True}, version=1)
    with pg_sessions() as session:
        model = ensure_model(session, MODEL, "binary")
        assert champion_baseline(session, model) == {"quality.accuracy": 0.91}
        first = replay_policy(session, MODEL, policy(ACCURACY), T0, T0 + DAY)[0]
    assert first.result("accuracy").threshold == pytest.approx(0.86)
    assert first.decision is Decision.ROLLBACK

    set_champion(pg_sessions, {"quality.accuracy": 0.85}, version=2)  # the alias moves
    with pg_sessions() as session:
        second = replay_policy(session, MODEL, policy(ACCURACY), T0, T0 + DAY)[0]
    assert second.result("accuracy").threshold == pytest.approx(0.80)
    assert second.decision is Decision.NONE


def test_an_unknown_model_is_named(pg_sessions: sessionmaker[Session]) -> None:
    with pg_sessions() as session, pytest.raises(UnknownModelError, match="no model named 'ghost'"):
        replay_policy(session, "ghost", policy(DRIFT), T0, T0 + DAY)


def write_spec(folder: Path, rules: list[dict[str, Any]]) -> Path:
    spec = {
        "name": MODEL,
        "task": "binary",
        "sources": {"predictions": {"path": "log.parquet"}, "reference": {"path": "ref.parquet"}},
        "columns": {"timestamp": "ts", "id": "id", "numerical": ["income"], "prediction": "pred"},
        "policy": {"rules": rules, "retrain_cooldown": "7d"},
    }
    path = folder / "credit.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_cli_replay_prints_what_would_have_fired(
    pg_sessions: sessionmaker[Session],
    pg_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for day, drift in enumerate([0.2, 0.7, 0.3]):
        store_window(pg_sessions, day, drift=drift)
    monkeypatch.setenv(
        "DRIFTWISE_DATABASE_URL", pg_engine.url.render_as_string(hide_password=False)
    )
    path = write_spec(tmp_path, [DRIFT])
    result = CliRunner().invoke(
        policy_app,
        ["replay", str(path), "--start", "2024-05-01", "--end", "2024-05-04"],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "2024-05-02" in result.output
    assert "retrain" in result.output
    assert "[warning]" in result.output  # reasons are printed as text, not read as markup
    assert "3 windows replayed; decisions: retrain x1" in result.output
    assert evaluation_rows(pg_sessions) == []

    bad = write_spec(tmp_path, [{**DRIFT, "direction": "up"}])
    failed = CliRunner().invoke(policy_app, ["replay", str(bad), "--start", "2024-05-01"])
    assert failed.exit_code == 1
    assert "rule 'drift': direction: Input should be 'above' or 'below'" in failed.output


def test_cli_replay_end_is_inclusive_and_rows_stay_one_line_at_80_columns(
    pg_sessions: sessionmaker[Session],
    pg_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for day, drift in enumerate([0.2, 0.7, 0.8, 0.9]):
        store_window(pg_sessions, day, drift=drift)
    monkeypatch.setenv(
        "DRIFTWISE_DATABASE_URL", pg_engine.url.render_as_string(hide_password=False)
    )
    path = write_spec(tmp_path, [DRIFT])
    result = CliRunner().invoke(
        policy_app,
        ["replay", str(path), "--start", "2024-05-01", "--end", "2024-05-03"],
        terminal_width=80,
    )
    assert result.exit_code == 0, result.output
    # Like `backfill --end`: the window starting on the --end date is replayed, the next is not.
    assert "3 windows replayed" in result.output
    assert "2024-05-04" not in result.output
    rows = [line for line in result.output.splitlines() if line.strip().startswith("2024-05-0")]
    table_rows = [line for line in rows if "[warning]" not in line]
    assert [row.split()[:2] for row in table_rows] == [
        ["2024-05-02", "drift"],
        ["2024-05-03", "drift"],
    ]
    assert all(len(row) <= 80 for row in table_rows)
    reasons = [line for line in rows if "[warning]" in line]
    assert [reason.split()[:3] for reason in reasons] == [
        ["2024-05-02", "[warning]", "drift:"],
        ["2024-05-03", "[warning]", "drift:"],
    ]
