"""Thin Prefect tasks for retraining and rollback. Each writes its own rows in its own
transaction, so the actions table tells the story step by step even when a later step fails."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from monitoring_lib.actions import retrain as actions
from monitoring_lib.actions import training
from monitoring_lib.actions.registry import CHALLENGER, CHAMPION, StoreRegistry
from monitoring_lib.actions.retrain import ActionStatus, RetrainClaim, RollbackResult
from monitoring_lib.actions.training import GateResult, Holdout, PromotionDecision, Scores
from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec.actions import RetrainSpec
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.engine import open_store
from monitoring_lib.store.repository import ensure_model, stored_windows
from monitoring_lib.windows import Window


def _sessions():  # type: ignore[no-untyped-def]
    return open_store(DriftwiseSettings().store_url)


@task(name="claim retraining", cache_policy=NO_CACHE)
def claim_retrain_task(
    spec: MonitorSpec,
    settings: RetrainSpec,
    now: datetime,
    reasons: list[str],
    flow_run_id: str | None,
    window_start: datetime | None,
) -> RetrainClaim:
    """At most one retraining per model at a time, none inside the cooldown."""
    with _sessions().begin() as session:
        model = ensure_model(session, spec.name, spec.task.value)
        return actions.claim_retrain(
            session,
            model,
            settings,
            now=now,
            reasons=reasons,
            flow_run_id=flow_run_id,
            window_start=window_start,
        )


@task(name="build training set", cache_policy=NO_CACHE)
def training_set_task(spec: MonitorSpec, settings: RetrainSpec, as_of: datetime) -> Holdout:
    """Recent labelled windows (re-read with the labels known by ``as_of``), and the reference."""
    with _sessions()() as session:
        model = ensure_model(session, spec.name, spec.task.value)
        stored = [w for w in stored_windows(session, model) if w.end <= as_of]
    chosen = training.pick_training_windows(stored, settings.windows)
    frames = [
        load_window(spec, Window(w.start, w.end, spec.window.timezone), as_of=as_of).frame
        for w in chosen
    ]
    if spec.columns.target is None:
        raise training.TrainingDataError(f"{spec.name}: retraining needs columns.target")
    reference = load_reference(spec) if settings.include_reference else None
    data = training.build_training_set(
        frames,
        features=spec.columns.features,
        target=spec.columns.target,
        reference=reference,
        min_labelled_rows=settings.min_labelled_rows,
    )
    get_run_logger().info("training rows by source: %s", data.rows_by_source)
    return training.split_holdout(
        data,
        fraction=settings.holdout_fraction,
        seed=settings.seed,
        classification=spec.task.value != "regression",
    )


@task(name="train challenger", cache_policy=NO_CACHE)
def train_task(spec: MonitorSpec, settings: RetrainSpec, holdout: Holdout) -> Any:
    return training.train_challenger(training.load_trainer(settings.trainer), holdout, spec=spec)


@task(name="score champion and challenger", cache_policy=NO_CACHE)
def score_task(
    spec: MonitorSpec, challenger: Any, holdout: Holdout
) -> tuple[Scores | None, Scores, int | None]:
    """Both models on the same holdout; the champion is read from the registry."""
    settings = DriftwiseSettings()
    with _sessions()() as session:
        registry = StoreRegistry(session, settings.artifacts)
        version = registry.get_alias(spec.name, CHAMPION)
        champion = registry.load(spec.name, version) if version is not None else None
    task_kind = spec.task.value
    x, y = holdout.holdout_features, holdout.holdout_target
    champion_scores = (
        training.score_model(champion, x, y, task=task_kind) if champion is not None else None
    )
    return champion_scores, training.score_model(challenger, x, y, task=task_kind), version


@task(
    name="register challenger and gate",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[2, 10],
)
def register_and_gate_task(
    spec: MonitorSpec,
    settings: RetrainSpec,
    challenger: Any,
    champion_scores: Scores | None,
    challenger_scores: Scores,
    champion_version: int | None,
    flow_run_id: str | None,
    now: datetime,
) -> tuple[int, GateResult]:
    app = DriftwiseSettings()
    gate = training.gate(
        champion_scores.values if champion_scores else None,
        challenger_scores.values,
        settings.metric,
        settings.margin,
    )
    with _sessions().begin() as session:
        registry = StoreRegistry(session, app.artifacts)
        version = registry.register(
            spec.name, challenger, dict(challenger_scores.values), {"source": "retrain"}
        )
        registry.set_alias(spec.name, CHALLENGER, version)
        model = ensure_model(session, spec.name, spec.task.value)
        actions.record_gate(
            session,
            model,
            gate,
            now=now,
            champion_version=champion_version,
            challenger_version=version,
            scores={
                "champion": champion_scores.values if champion_scores else None,
                "challenger": challenger_scores.values,
            },
            flow_run_id=flow_run_id,
        )
    get_run_logger().info("challenger v%s: %s", version, "; ".join(gate.reasons))
    return version, gate


@task(
    name="promote or keep the champion",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[2, 10],
)
def promote_task(
    spec: MonitorSpec,
    version: int,
    decision: PromotionDecision,
    now: datetime,
    flow_run_id: str | None,
) -> None:
    with _sessions().begin() as session:
        registry = StoreRegistry(session, DriftwiseSettings().artifacts)
        actions.apply_promotion(
            session, registry, spec.name, version, decision, now=now, flow_run_id=flow_run_id
        )


@task(name="close retraining", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def finish_retrain_task(
    action_id: int,
    status: ActionStatus,
    outcome: str,
    now: datetime,
    metrics: dict[str, Any] | None = None,
) -> None:
    with _sessions().begin() as session:
        actions.finish_action(session, action_id, status, now=now, outcome=outcome, metrics=metrics)


@task(name="roll back the champion", cache_policy=NO_CACHE)
def rollback_task(
    spec: MonitorSpec, reason: str, now: datetime, decided_by: str, flow_run_id: str | None
) -> RollbackResult:
    """Point the champion back to the last version marked good; idempotent. Only the policy's
    automatic rollbacks are limited to the period after a promotion; a person's are not."""
    automatic = decided_by == "policy" and spec.actions.rollback is not None
    within = spec.actions.rollback.within if automatic and spec.actions.rollback else None
    with _sessions().begin() as session:
        ensure_model(session, spec.name, spec.task.value)
        registry = StoreRegistry(session, DriftwiseSettings().artifacts)
        return actions.rollback(
            session,
            registry,
            spec.name,
            now=now,
            reason=reason,
            within=within,
            decided_by=decided_by,
            flow_run_id=flow_run_id,
        )


@task(name="mark champion good", cache_policy=NO_CACHE)
def mark_good_task(spec: MonitorSpec, now: datetime) -> int | None:
    """A champion that served a whole rollback period without a critical finding becomes 'good'."""
    if spec.actions.rollback is None:
        return None
    with _sessions().begin() as session:
        registry = StoreRegistry(session, DriftwiseSettings().artifacts)
        version = actions.champion_to_mark_good(
            session, registry, spec.name, now=now, within=spec.actions.rollback.within
        )
        if version is not None:
            registry.mark_good(spec.name, version, True)
        return version
