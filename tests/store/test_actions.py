"""Retrain, gate, promote and rollback against a real PostgreSQL store, step by step as a flow
calls them; the actions table must tell the whole story.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib import demo_data
from monitoring_lib.actions.gate import Approval, ApprovalVerdict, decide_promotion, gate
from monitoring_lib.actions.lease import release_lease_of_run, renew_lease
from monitoring_lib.actions.log import ActionKind, ActionStatus, action_history, finish_action
from monitoring_lib.actions.promotion import apply_promotion, champion_to_mark_good
from monitoring_lib.actions.registry import CHALLENGER, CHAMPION
from monitoring_lib.actions.retrain import (
    RetrainClaim,
    claim_retrain,
    in_cooldown,
    record_gate,
    retrain_lock,
)
from monitoring_lib.actions.rollback import rollback
from monitoring_lib.actions.store_registry import StoreRegistry
from monitoring_lib.actions.training import (
    Holdout,
    Trainer,
    TrainerError,
    build_training_set,
    score_model,
    split_holdout,
    train_challenger,
)
from monitoring_lib.example_trainer import train
from monitoring_lib.spec.actions import RetrainSpec
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.repository import ensure_model
from tests.credit_world import credit_spec

pytestmark = pytest.mark.postgres

MODEL = "credit-default"
T0 = datetime(2024, 6, 1, 9, tzinfo=UTC)
COLUMNS = demo_data.NUMERICAL + demo_data.CATEGORICAL
SETTINGS = RetrainSpec(
    trainer="monitoring_lib.example_trainer:train",
    metric="quality.roc_auc",
    margin=0.01,
    windows=3,
    min_labelled_rows=500,
)


def world_rows(rows: int, world: demo_data.World, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    features = demo_data.applicants(rows, world, rng)
    outcome = rng.random(rows) < demo_data.default_probability(features, world)
    return features.assign(defaulted=outcome.astype(float))


class NanModel:
    """A challenger whose probabilities are NaN: its metrics are missing."""

    classes_ = np.array([0, 1])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame), dtype=int)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.full((len(frame), 2), np.nan)


def nan_trainer(features: pd.DataFrame, target: pd.Series, *, spec: Any) -> NanModel:
    return NanModel()


def noise_trainer(features: pd.DataFrame, target: pd.Series, *, spec: Any) -> Any:
    """Learns from shuffled labels: worse than the champion."""
    shuffled = target.sample(frac=1.0, random_state=0).to_numpy()
    return train(features, pd.Series(shuffled, index=target.index), spec=spec)


def failing_trainer(features: pd.DataFrame, target: pd.Series, *, spec: Any) -> Any:
    raise RuntimeError("disk full")


def split_of(world: World) -> Holdout:
    training = build_training_set(world.windows, features=COLUMNS, target="defaulted")
    return split_holdout(training, fraction=0.25, seed=0, classification=True)


class World:
    """A model with a stationary-world champion (v1, good) and changed-world labelled windows."""

    def __init__(self, sessions: sessionmaker[Session], artifacts: Path, spec: MonitorSpec) -> None:
        self.sessions, self.artifacts, self.spec = sessions, artifacts, spec
        self.windows = [world_rows(1_000, demo_data.CHANGED, seed=30 + i) for i in range(3)]
        for frame in self.windows:  # labels arrive late: a third are still missing
            frame.loc[frame.index % 3 == 0, "defaulted"] = np.nan
        reference = world_rows(3_000, demo_data.STATIONARY, seed=20)
        with sessions.begin() as session:
            self.model_id = ensure_model(session, MODEL, "binary")
            registry = self.registry(session)
            champion = train(reference[COLUMNS], reference["defaulted"].astype(int), spec=spec)
            version = registry.register(MODEL, champion, {}, {"trained_on": "reference"})
            registry.set_alias(MODEL, CHAMPION, version)
            registry.mark_good(MODEL, version, True)

    def registry(self, session: Session) -> StoreRegistry:
        return StoreRegistry(session, self.artifacts)

    def retrain(
        self,
        now: datetime,
        trainer: Trainer = train,
        settings: RetrainSpec = SETTINGS,
        approval: Approval | None = None,
    ) -> str:
        """One retraining as the flow runs it: each block is one task, in its own transaction."""
        with self.sessions.begin() as session:
            claim = claim_retrain(
                session, self.model_id, settings, now=now, reasons=["drift.share above 0.5"]
            )
        if not claim.granted:
            return "skipped"
        training = build_training_set(
            self.windows,
            features=COLUMNS,
            target="defaulted",
            min_labelled_rows=settings.min_labelled_rows,
        )
        split = split_holdout(
            training, fraction=settings.holdout_fraction, seed=settings.seed, classification=True
        )
        challenger = train_challenger(trainer, split, spec=self.spec)
        holdout = (split.holdout_features, split.holdout_target)
        with self.sessions.begin() as session:
            registry = self.registry(session)
            champion_version = registry.get_alias(MODEL, CHAMPION)
            assert champion_version is not None
            champion = registry.load(MODEL, champion_version)
            champion_scores = score_model(champion, *holdout, task="binary")
            challenger_scores = score_model(challenger, *holdout, task="binary")
            version = registry.register(MODEL, challenger, challenger_scores.values, {})
            registry.set_alias(MODEL, CHALLENGER, version)
            result = gate(
                champion_scores.values, challenger_scores.values, settings.metric, settings.margin
            )
            record_gate(
                session,
                self.model_id,
                result,
                now=now,
                champion_version=champion_version,
                challenger_version=version,
            )
            decision = decide_promotion(
                result, approval_required=settings.approval.required, approval=approval
            )
            apply_promotion(session, registry, MODEL, version, decision, now=now)
            status = ActionStatus.PROMOTED if decision.promote else ActionStatus.REJECTED
            finish_action(
                session, claim.action_id, status, now=now, outcome=f"challenger v{version}"
            )
        return str(status)

    def champion(self) -> int | None:
        with self.sessions() as session:
            return self.registry(session).get_alias(MODEL, CHAMPION)

    def state(self) -> tuple[int | None, list[tuple[int, bool]]]:
        """What a rollback may change: the champion and every version's good mark."""
        with self.sessions() as session:
            registry = self.registry(session)
            marks = [(info.version, info.is_good) for info in registry.versions(MODEL)]
            return registry.get_alias(MODEL, CHAMPION), marks

    def story(self) -> list[tuple[str, str]]:
        with self.sessions() as session:
            return [(row.kind, row.status) for row in action_history(session, self.model_id)]

    def rollback(self, now: datetime, **options: Any) -> Any:
        with self.sessions.begin() as session:
            return rollback(
                session, self.registry(session), MODEL, now=now, reason="accuracy-drop", **options
            )


@pytest.fixture
def world(pg_sessions: sessionmaker[Session], tmp_path: Path) -> World:
    return World(pg_sessions, tmp_path / "artifacts", credit_spec(tmp_path))


# --- retrain, gate, promote -----------------------------------------------------------------


def test_a_better_challenger_is_promoted_and_the_table_tells_why(world: World) -> None:
    assert world.retrain(T0) == "promoted"
    assert world.champion() == 2
    assert world.story() == [
        ("retrain", "promoted"),
        ("gate", "promoted"),
        ("promote", "promoted"),
    ]
    with world.sessions() as session:
        retrain_row, gate_row, promote_row = action_history(session, world.model_id)
    assert retrain_row.reasons == ["drift.share above 0.5"]
    assert retrain_row.finished_at == T0
    assert gate_row.metrics["challenger"] > gate_row.metrics["champion"] + 0.01
    assert gate_row.metrics["challenger_version"] == 2
    assert promote_row.metrics == {"from_version": 1, "to_version": 2}
    assert promote_row.decided_by == "gate"


@pytest.mark.parametrize(
    ("trainer", "words"),
    [(noise_trainer, "not better by the margin"), (nan_trainer, "fail closed")],
)
def test_a_worse_or_metricless_challenger_leaves_the_champion(
    world: World, trainer: Trainer, words: str
) -> None:
    assert world.retrain(T0, trainer=trainer) == "rejected"
    assert world.champion() == 1
    assert world.story() == [
        ("retrain", "rejected"),
        ("gate", "rejected"),
        ("promote", "rejected"),
    ]
    with world.sessions() as session:
        gate_row = action_history(session, world.model_id)[1]
        assert world.registry(session).get_alias(MODEL, CHALLENGER) == 2
    assert words in gate_row.reasons[0]


@pytest.mark.parametrize(
    ("approval", "champion", "decided_by"),
    [
        (Approval(ApprovalVerdict.APPROVED, "ana@bank"), 2, "ana@bank"),
        (Approval(ApprovalVerdict.REJECTED, "ben@bank", "freeze"), 1, "ben@bank"),
        (Approval(ApprovalVerdict.TIMED_OUT), 1, "timeout"),
    ],
)
def test_required_approval_decides_and_is_recorded(
    world: World, approval: Approval, champion: int, decided_by: str
) -> None:
    approval_settings = {"required": True, "timeout": "1h"}
    settings = RetrainSpec.model_validate({**SETTINGS.model_dump(), "approval": approval_settings})
    world.retrain(T0, settings=settings, approval=approval)
    assert world.champion() == champion
    with world.sessions() as session:
        promote_row = action_history(session, world.model_id)[2]
    assert promote_row.kind == ActionKind.PROMOTE
    assert promote_row.decided_by == decided_by


# --- one retraining at a time, and a cooldown -----------------------------------------------


def run_together(sessions: sessionmaker[Session], work: Callable[[Session], Any]) -> list[Any]:
    """Run ``work`` in two threads, each in its own transaction, released by one barrier."""
    barrier = threading.Barrier(2)
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with sessions.begin() as session:
                barrier.wait(timeout=10)
                results.append(work(session))
                barrier.wait(timeout=10)  # both have tried before either commits
        except BaseException as error:  # surfaced below: a thread's failure must fail the test
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return results


def test_two_sessions_cannot_both_take_the_retrain_lock(world: World) -> None:
    taken = run_together(world.sessions, lambda session: retrain_lock(session, world.model_id))
    assert sorted(taken) == [False, True]
    with world.sessions.begin() as session:  # released at commit
        assert retrain_lock(session, world.model_id)


def test_two_retrain_requests_at_once_run_one(world: World) -> None:
    claims = run_together(
        world.sessions,
        lambda session: claim_retrain(session, world.model_id, SETTINGS, now=T0),
    )
    assert sorted(claim.granted for claim in claims) == [False, True]
    assert sorted(world.story()) == [("retrain", "running"), ("retrain", "skipped")]
    refused = next(claim for claim in claims if not claim.granted)
    assert "another retraining" in refused.reasons[0]


def test_a_running_retraining_refuses_another_until_its_heartbeat_stops(world: World) -> None:
    # Decisions in the window's time (days apart), liveness on the wall clock (minutes apart).
    no_cooldown = SETTINGS.model_copy(update={"cooldown": timedelta(0)})
    clock = datetime(2030, 1, 1, 12, tzinfo=UTC)

    def claim(as_of: datetime, alive_at: datetime) -> RetrainClaim:
        with world.sessions.begin() as session:
            return claim_retrain(
                session, world.model_id, no_cooldown, now=as_of, alive_at=alive_at,
                flow_run_id="run-1",
            )  # fmt: skip

    first = claim(T0, clock)
    assert first.granted
    # a long retraining (a day, in window time) renews its lease: never a second one beside it
    for minutes in (8, 16, 24):
        with world.sessions.begin() as session:
            assert renew_lease(session, first.action_id, clock + timedelta(minutes=minutes))
    second = claim(T0 + timedelta(days=1), clock + timedelta(minutes=30))
    assert not second.granted
    assert f"retraining #{first.action_id} is running" in second.reasons[0]
    # its flow dies: ten minutes without a heartbeat and the next claim proceeds
    third = claim(T0 + timedelta(days=1), clock + timedelta(minutes=35))
    assert third.granted
    assert third.abandoned_runs == ("run-1",)
    with world.sessions() as session:
        rows = action_history(session, world.model_id)
        assert not renew_lease(session, first.action_id, clock + timedelta(minutes=36))
    assert rows[0].status == ActionStatus.FAILED
    assert rows[0].outcome.startswith("abandoned: no heartbeat for 10m")


def test_a_crashed_run_gives_its_lease_back_at_once(world: World) -> None:
    with world.sessions.begin() as session:
        first = claim_retrain(session, world.model_id, SETTINGS, now=T0, flow_run_id="run-9")
    with world.sessions.begin() as session:
        assert release_lease_of_run(session, "run-9", now=T0, reason="crashed: SIGTERM") == 1
    with world.sessions() as session:
        row = action_history(session, world.model_id)[0]
    assert (row.id, row.status, row.outcome) == (first.action_id, "failed", "crashed: SIGTERM")


def test_no_retraining_inside_the_cooldown(world: World) -> None:
    assert world.retrain(T0, trainer=noise_trainer) == "rejected"
    with world.sessions() as session:
        assert in_cooldown(session, world.model_id, T0 + timedelta(days=6), SETTINGS.cooldown)
        assert not in_cooldown(session, world.model_id, T0 + timedelta(days=7), SETTINGS.cooldown)
    assert world.retrain(T0 + timedelta(days=3)) == "skipped"
    assert world.champion() == 1
    assert world.retrain(T0 + timedelta(days=7)) == "promoted"
    with world.sessions() as session:
        skipped = action_history(session, world.model_id)[3]
    assert skipped.status == ActionStatus.SKIPPED
    assert "in cooldown until 2024-06-08 09:00 UTC" in skipped.outcome


# --- rollback -------------------------------------------------------------------------------


def test_rollback_twice_gives_the_same_state(world: World) -> None:
    world.retrain(T0)
    assert world.champion() == 2
    first = world.rollback(T0 + timedelta(days=1), within=timedelta(days=3))
    after_first = world.state()
    second = world.rollback(T0 + timedelta(days=1, hours=1), within=timedelta(days=3))
    assert (first.status, first.from_version, first.to_version) == ("rolled_back", 2, 1)
    assert not first.needs_critical_alert
    assert after_first == world.state() == (1, [(1, True), (2, False)])
    assert second.status == ActionStatus.SKIPPED
    assert "skipped: already at last good version v1" in second.reasons
    assert not second.needs_critical_alert
    assert world.story()[-2:] == [("rollback", "rolled_back"), ("rollback", "skipped")]


def test_rollback_without_a_good_version_changes_nothing_and_asks_for_an_alert(
    world: World,
) -> None:
    with world.sessions.begin() as session:
        world.registry(session).mark_good(MODEL, 1, False)
    world.retrain(T0)
    before = world.state()
    result = world.rollback(T0 + timedelta(days=1))
    assert result.status == ActionStatus.FAILED
    assert result.needs_critical_alert
    assert (result.from_version, result.to_version) == (2, 2)
    assert world.state() == before
    assert "no version is marked good" in result.reasons[1]


def test_rollback_long_after_the_promotion_keeps_the_champion(world: World) -> None:
    world.retrain(T0)
    result = world.rollback(T0 + timedelta(days=5), within=timedelta(days=3))
    assert result.status == ActionStatus.SKIPPED
    assert result.needs_critical_alert
    assert world.champion() == 2


def test_the_actions_table_tells_the_whole_story(world: World) -> None:
    world.retrain(T0, trainer=nan_trainer)
    world.retrain(T0 + timedelta(days=1))
    world.retrain(T0 + timedelta(days=8))
    world.rollback(T0 + timedelta(days=9), within=timedelta(days=3))
    world.rollback(T0 + timedelta(days=9, hours=1), within=timedelta(days=3))
    assert world.story() == [
        ("retrain", "rejected"),
        ("gate", "rejected"),
        ("promote", "rejected"),
        ("retrain", "skipped"),
        ("retrain", "promoted"),
        ("gate", "promoted"),
        ("promote", "promoted"),
        ("rollback", "rolled_back"),
        ("rollback", "skipped"),
    ]
    assert world.state() == (1, [(1, True), (2, False), (3, False)])


def test_a_failed_retraining_is_recorded_and_still_counts_for_the_cooldown(world: World) -> None:
    with world.sessions.begin() as session:
        claim = claim_retrain(session, world.model_id, SETTINGS, now=T0)
    with pytest.raises(TrainerError) as error:
        train_challenger(failing_trainer, split_of(world), spec=world.spec)
    with world.sessions.begin() as session:
        finish_action(
            session, claim.action_id, ActionStatus.FAILED, now=T0, outcome=str(error.value)
        )
        row = action_history(session, world.model_id)[0]
        assert in_cooldown(session, world.model_id, T0 + timedelta(days=1), SETTINGS.cooldown)
    assert (row.status, row.finished_at) == ("failed", T0)
    assert "RuntimeError: disk full" in row.outcome


def test_a_promoted_champion_is_due_its_good_mark_after_the_rollback_period(world: World) -> None:
    within = timedelta(days=3)

    def due(now: datetime) -> int | None:
        with world.sessions() as session:
            registry = world.registry(session)
            return champion_to_mark_good(session, registry, MODEL, now=now, within=within)

    assert due(T0) is None  # v1 is good already
    world.retrain(T0)
    assert due(T0 + timedelta(days=1)) is None  # still inside the rollback period
    assert due(T0 + within) == 2
    with world.sessions.begin() as session:
        world.registry(session).mark_good(MODEL, 2, True)
    assert due(T0 + within) is None
