"""Thin Prefect tasks for retraining and rollback. Each writes its own rows in its own
transaction, so the actions table tells the story step by step even when a later step fails."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import ObjectNotFound
from prefect.states import Crashed, State

from monitoring_lib.actions import steps
from monitoring_lib.actions.external import register_if_no_champion
from monitoring_lib.actions.gate import GateResult, PromotionDecision
from monitoring_lib.actions.lease import release_lease_of_run, renew_lease
from monitoring_lib.actions.log import ActionStatus, finish_action
from monitoring_lib.actions.promotion import apply_promotion
from monitoring_lib.actions.retrain import RetrainClaim, claim_retrain
from monitoring_lib.actions.rollback import RollbackResult, rollback
from monitoring_lib.actions.training import Holdout, load_trainer, train_challenger
from monitoring_lib.durations import format_duration
from monitoring_lib.spec.actions import RetrainSpec
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.models import utcnow
from monitoring_lib.store.repository import ensure_model
from tasks import timeouts
from tasks.retries import STORE_STEP
from tasks.store import model_registry, store_sessions

_LOG = logging.getLogger(__name__)


@task(name="claim retraining", cache_policy=NO_CACHE, timeout_seconds=timeouts.QUICK)
def claim_retrain_task(
    spec: MonitorSpec,
    settings: RetrainSpec,
    now: datetime,
    reasons: list[str],
    flow_run_id: str | None,
    window_start: datetime | None,
) -> RetrainClaim:
    """At most one retraining per model at a time, none inside the cooldown; a retraining whose
    heartbeat stopped is taken as abandoned, and its flow run marked Crashed."""
    with store_sessions().begin() as session:
        model = ensure_model(session, spec.name, spec.task.value)
        claim = claim_retrain(
            session,
            model,
            settings,
            now=now,
            reasons=reasons,
            flow_run_id=flow_run_id,
            window_start=window_start,
        )
    for abandoned in claim.abandoned_runs:
        _mark_crashed(abandoned, f"no heartbeat for {format_duration(settings.stale_after)}")
    return claim


def _mark_crashed(flow_run_id: str, why: str) -> None:
    """A flow run that died without a word (kill -9, lost machine) still shows Running: say it."""
    logger = get_run_logger()
    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(flow_run_id))
            if run.state is None or not run.state.is_final():
                client.set_flow_run_state(run.id, Crashed(message=why), force=True)
                logger.warning("flow run %s marked Crashed: %s", flow_run_id, why)
    except (ValueError, ObjectNotFound) as error:
        logger.warning("flow run %s could not be marked Crashed: %s", flow_run_id, error)


@contextmanager
def lease_heartbeat(action_id: int, stale_after: timedelta) -> Iterator[None]:
    """Renew the retraining's lease every quarter of ``stale_after`` while the block runs, so a
    retraining of any length holds it and a dead one loses it within ``stale_after``."""
    stop = threading.Event()
    interval = max(stale_after.total_seconds() / 4, 0.5)

    def beat() -> None:
        while not stop.wait(interval):
            try:
                with store_sessions().begin() as session:
                    if not renew_lease(session, action_id, utcnow()):
                        return  # finished, or taken over: nothing left to hold
            except Exception as error:  # a missed beat is retried at the next one
                _LOG.warning("retraining #%s: lease not renewed: %s", action_id, error)

    thread = threading.Thread(target=beat, name=f"retrain-lease-{action_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 30)


def release_crashed_lease(flow: object, flow_run: FlowRun, state: State) -> None:
    """on_crashed hook: a retraining whose run crashed (SIGTERM, lost infrastructure) gives its
    lease back at once instead of after ``stale_after``."""
    with store_sessions().begin() as session:
        reason = f"crashed: {state.message or state.name}"
        release_lease_of_run(session, str(flow_run.id), now=utcnow(), reason=reason)


@task(name="build training set", cache_policy=NO_CACHE, timeout_seconds=timeouts.STEP)
def training_set_task(spec: MonitorSpec, settings: RetrainSpec, as_of: datetime) -> Holdout:
    """Recent labelled windows (re-read with the labels known by ``as_of``), and the reference."""
    with store_sessions()() as session:
        holdout = steps.training_holdout(session, spec, settings, as_of)
    get_run_logger().info("training rows by source: %s", holdout.rows_by_source)
    return holdout


@task(name="train challenger", cache_policy=NO_CACHE, timeout_seconds=timeouts.STEP)
def train_task(spec: MonitorSpec, settings: RetrainSpec, holdout: Holdout) -> Any:
    return train_challenger(load_trainer(settings.trainer), holdout, spec=spec)


@task(name="score champion and challenger", cache_policy=NO_CACHE, timeout_seconds=timeouts.STEP)
def score_task(spec: MonitorSpec, challenger: Any, holdout: Holdout) -> steps.Contest:
    """Both models on the same holdout; the champion is read from the registry."""
    with store_sessions()() as session:
        return steps.score_both(model_registry(session), spec, challenger, holdout)


@task(
    name="register challenger and gate",
    **STORE_STEP,
)
def register_and_gate_task(
    spec: MonitorSpec,
    settings: RetrainSpec,
    challenger: Any,
    contest: steps.Contest,
    flow_run_id: str | None,
    now: datetime,
) -> tuple[int, GateResult]:
    with store_sessions().begin() as session:
        version, gate = steps.register_and_gate(
            session, model_registry(session), spec, settings, challenger, contest,
            now=now, flow_run_id=flow_run_id,
        )  # fmt: skip
    get_run_logger().info("challenger v%s: %s", version, "; ".join(gate.reasons))
    return version, gate


@task(
    name="promote or keep the champion",
    **STORE_STEP,
)
def promote_task(
    spec: MonitorSpec,
    version: int,
    decision: PromotionDecision,
    now: datetime,
    flow_run_id: str | None,
) -> None:
    with store_sessions().begin() as session:
        apply_promotion(
            session, model_registry(session), spec.name, version, decision, now=now,
            flow_run_id=flow_run_id,
        )  # fmt: skip


@task(
    name="close retraining",
    **STORE_STEP,
)
def finish_retrain_task(
    action_id: int,
    status: ActionStatus,
    outcome: str,
    now: datetime,
    metrics: dict[str, Any] | None = None,
) -> None:
    with store_sessions().begin() as session:
        finish_action(session, action_id, status, now=now, outcome=outcome, metrics=metrics)


@task(name="roll back the champion", cache_policy=NO_CACHE, timeout_seconds=timeouts.QUICK)
def rollback_task(
    spec: MonitorSpec, reason: str, now: datetime, decided_by: str, flow_run_id: str | None
) -> RollbackResult:
    """Point the champion back to the last version marked good; idempotent."""
    with store_sessions().begin() as session:
        ensure_model(session, spec.name, spec.task.value)
        return rollback(
            session,
            model_registry(session),
            spec.name,
            now=now,
            reason=reason,
            within=steps.rollback_limit(spec, decided_by),
            decided_by=decided_by,
            flow_run_id=flow_run_id,
        )


@task(name="mark champion good", cache_policy=NO_CACHE, timeout_seconds=timeouts.QUICK)
def mark_good_task(spec: MonitorSpec, now: datetime) -> int | None:
    """A champion that served a whole rollback period without a critical finding becomes 'good'."""
    with store_sessions().begin() as session:
        return steps.mark_champion_good(session, model_registry(session), spec, now)


@task(
    name="register the serving model",
    **STORE_STEP,
)
def register_serving_model_task(spec: MonitorSpec, now: datetime) -> int | None:
    """At the model's first run, the model whose predictions are in the log becomes the
    champion (an external version, its baseline from the reference); later runs do nothing."""
    with store_sessions().begin() as session:
        version = register_if_no_champion(session, model_registry(session), spec, now=now)
    if version is not None:
        get_run_logger().info(
            "%s: the serving model is registered as v%s, the first champion", spec.name, version
        )
    return version
