"""CUSUM and pooled rules against a real PostgreSQL store: the CUSUM's state is stored with each
evaluation and read back by the next window, pooled rules read the stored quality counts, and
every window (live, rerun or replayed) is judged against the champion in force at it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from driftwise import cli_policy
from monitoring_lib.actions.log import ActionKind, ActionStatus, record_action
from monitoring_lib.metrics.quality.counts import classification_counts
from monitoring_lib.metrics.quality.values import find, quality_values
from monitoring_lib.pipeline.counts_store import store_quality_counts
from monitoring_lib.policy.store import decide_stored_window, previous_states, replay_policy
from monitoring_lib.records import Metric
from monitoring_lib.spec.base import Decision
from monitoring_lib.spec.policy import PolicySpec
from monitoring_lib.store.models import ModelAlias, ModelVersion, PolicyEvaluation
from monitoring_lib.store.repository import RunInfo, ensure_model, replace_window
from monitoring_lib.windows import Window

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 5, 1, tzinfo=UTC)
DAY = timedelta(days=1)
MODEL = "credit"
ROWS = 165
CUSUM = {
    "name": "accuracy-cusum",
    "metric": "quality.accuracy",
    "direction": "below",
    "threshold": "cusum",
    "action": "alert",
}


def policy(*rules: dict[str, Any]) -> PolicySpec:
    return PolicySpec.model_validate({"rules": list(rules)})


def day_counts(day: int, accuracy: float) -> Any:
    """A day of 165 labelled rows whose accuracy is as close to ``accuracy`` as rows allow."""
    rng = np.random.default_rng(day)
    truth = (rng.random(ROWS) < 0.3).astype(int)
    wrong = np.zeros(ROWS, dtype=bool)
    wrong[: round((1 - accuracy) * ROWS)] = True
    predicted = np.where(wrong, 1 - truth, truth)
    return classification_counts(truth, predicted, positive=1)


def store_day(sessions: sessionmaker[Session], day: int, accuracy: float) -> float:
    """The day's quality records and counts, as a monitor run stores them; its accuracy."""
    counts = day_counts(day, accuracy)
    records = [value.record() for value in quality_values(counts)]
    now = datetime.now(UTC)
    run = RunInfo(status="succeeded", started_at=now, finished_at=now, code_version="test")
    window = Window(T0 + day * DAY, T0 + (day + 1) * DAY)
    with sessions.begin() as session:
        model = ensure_model(session, MODEL, "binary")
        run_id = replace_window(session, model, window, run, records)
        store_quality_counts(session, model, window, run_id, {"realised": counts})
    return float(find(quality_values(counts), Metric.ACCURACY).value or 0.0)


def add_version(sessions: sessionmaker[Session], version: int, accuracy: float) -> None:
    with sessions.begin() as session:
        model = ensure_model(session, MODEL, "binary")
        row = ModelVersion(
            model_id=model, version=version, uri=f"file:///v{version}",
            metrics={"quality.accuracy": accuracy},
        )  # fmt: skip
        session.add(row)
        session.flush()
        session.merge(ModelAlias(model_id=model, alias="champion", version_id=row.id))


def promote(sessions: sessionmaker[Session], at: datetime, old: int, new: int) -> None:
    with sessions.begin() as session:
        model = ensure_model(session, MODEL, "binary")
        record_action(
            session, model, ActionKind.PROMOTE, ActionStatus.PROMOTED, now=at,
            metrics={"from_version": old, "to_version": new},
        )  # fmt: skip


def decide(sessions: sessionmaker[Session], rules: PolicySpec, days: range) -> list[Any]:
    decided = []
    for day in days:
        with sessions.begin() as session:
            decided.append(decide_stored_window(session, MODEL, rules, T0 + day * DAY))
    return decided


def stored_statistics(sessions: sessionmaker[Session], rule: str) -> list[dict[str, Any] | None]:
    with sessions() as session:
        query = (
            select(PolicyEvaluation.statistics)
            .where(PolicyEvaluation.rule == rule)
            .order_by(PolicyEvaluation.window_start)
        )
        return list(session.execute(query).scalars())


def test_the_cusum_continues_from_the_stored_state_and_the_replay_agrees(
    pg_sessions: sessionmaker[Session],
) -> None:
    add_version(pg_sessions, 1, 0.94)
    accuracies = [store_day(pg_sessions, day, 0.94 if day < 4 else 0.90) for day in range(12)]
    rules = policy(CUSUM)
    live = decide(pg_sessions, rules, range(12))

    stored = stored_statistics(pg_sessions, "accuracy-cusum")
    statistic = 0.0
    se = math.sqrt(0.94 * 0.06 / ROWS)
    for day, accuracy in enumerate(accuracies):
        row = stored[day]
        assert row is not None
        if live[day].result("accuracy-cusum").firing:
            break
        statistic = max(0.0, statistic + (0.94 - accuracy) / se - 0.5)
        assert row["statistic"] == pytest.approx(statistic), day
        assert row["champion_version"] == 1
    fired = [e.window_start for e in live if e.decision is Decision.ALERT]
    assert fired
    assert fired[0] > T0 + 4 * DAY  # no single 0.90 day is enough
    with pg_sessions() as session:
        replayed = replay_policy(session, MODEL, rules, T0, T0 + 12 * DAY)
        state = previous_states(session, ensure_model(session, MODEL, "binary"), T0 + 12 * DAY)
    assert replayed == live
    sequential = state["accuracy-cusum"].sequential
    assert sequential is not None
    assert sequential.cusum.firing
    assert sequential.champion == 1


def test_a_promotion_restarts_the_cusum_and_past_windows_keep_their_champion(
    pg_sessions: sessionmaker[Session],
) -> None:
    add_version(pg_sessions, 1, 0.94)
    for day in range(3):
        store_day(pg_sessions, day, 0.92)
    rules = policy(CUSUM, {**CUSUM, "name": "accuracy-delta", "threshold": {"delta": -0.015}})
    before = decide(pg_sessions, rules, range(3))
    # retrained after day 2's run (at the next morning's scheduled time), v2 takes over
    add_version(pg_sessions, 2, 0.925)
    promote(pg_sessions, T0 + 3 * DAY + timedelta(hours=1, minutes=30), old=1, new=2)
    for day in range(3, 6):
        store_day(pg_sessions, day, 0.92)
    after = decide(pg_sessions, rules, range(3, 6))

    assert [e.baseline_version for e in before + after] == [1, 1, 1, 2, 2, 2]
    assert before[2].result("accuracy-cusum").statistics["statistic"] > 0
    restart = after[0].result("accuracy-cusum")
    assert "a new champion: the CUSUM started afresh" in restart.reason
    assert restart.statistics["baseline"] == 0.925
    assert [e.result("accuracy-delta").firing for e in before + after] == [True] * 3 + [False] * 3
    with pg_sessions() as session:
        replayed = replay_policy(session, MODEL, rules, T0, T0 + 6 * DAY)
    assert [e.baseline_version for e in replayed] == [1, 1, 1, 2, 2, 2]
    assert replayed == before + after

    # a rerun of day 1 after the promotion is judged against v1, as its run was
    with pg_sessions.begin() as session:
        rerun = decide_stored_window(session, MODEL, rules, T0 + DAY)
    assert rerun.baseline_version == 1
    assert rerun.result("accuracy-delta").threshold == pytest.approx(0.94 - 0.015)


def test_a_pooled_rule_reads_the_stored_counts_of_its_span(
    pg_sessions: sessionmaker[Session],
) -> None:
    add_version(pg_sessions, 1, 0.94)
    daily = [store_day(pg_sessions, day, 0.94 if day < 5 else 0.91) for day in range(10)]
    weekly = {
        "name": "weekly-accuracy",
        "metric": "quality.accuracy",
        "direction": "below",
        "threshold": {"delta": -0.01},
        "pool": "7d",
        "action": "alert",
    }
    live = decide(pg_sessions, policy(weekly), range(10))

    for day, evaluation in enumerate(live):
        result = evaluation.result("weekly-accuracy")
        inside = daily[max(0, day - 6) : day + 1]
        assert result.value == pytest.approx(sum(inside) / len(inside)), day  # equal-size days
        assert result.statistics["pooled_windows"] == len(inside)
        assert result.statistics["pooled_rows"] == ROWS * len(inside)
    # 0.94 - 0.01: the week's pool falls below it once three 0.91 days are in it
    assert [e.result("weekly-accuracy").firing for e in live] == [False] * 7 + [True] * 3
    stored = stored_statistics(pg_sessions, "weekly-accuracy")
    assert stored[-1] is not None
    assert stored[-1]["pool"] == "7d"
    assert stored[-1]["ci_lower"] < live[-1].result("weekly-accuracy").value


def test_cli_replay_shows_statistics_and_the_champion_of_each_stretch(
    pg_sessions: sessionmaker[Session],
    pg_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_version(pg_sessions, 1, 0.94)
    for day in range(6):
        store_day(pg_sessions, day, 0.88)
    add_version(pg_sessions, 2, 0.90)
    promote(pg_sessions, T0 + 3 * DAY + timedelta(hours=1), old=1, new=2)
    weekly = {**CUSUM, "name": "weekly", "threshold": 0.95, "pool": "3d"}
    spec = {
        "name": MODEL,
        "task": "binary",
        "sources": {"predictions": {"path": "log.parquet"}, "reference": {"path": "ref.parquet"}},
        "columns": {"timestamp": "ts", "id": "id", "numerical": ["income"], "prediction": "pred"},
        "policy": {"rules": [CUSUM, weekly]},
    }
    path = tmp_path / "credit.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    monkeypatch.setenv(
        "DRIFTWISE_DATABASE_URL", pg_engine.url.render_as_string(hide_password=False)
    )
    monkeypatch.setattr(cli_policy.console, "width", 260)

    result = CliRunner().invoke(
        cli_policy.policy_app, ["replay", str(path), "--start", "2024-05-01", "--end", "2024-05-07"]
    )

    assert result.exit_code == 0, result.output
    assert "CUSUM 6.5 / h 6.5, z +" in result.output  # fired on the first 0.88 day, capped at h
    assert "3d pool: 495 rows, 3 windows" in result.output
    flat = result.output.replace("\n", "")
    assert (
        "baselines: champion v1 for 2024-05-01 .. 2024-05-03; champion v2 for 2024-05-04 .. "
        "2024-05-06" in flat
    )
