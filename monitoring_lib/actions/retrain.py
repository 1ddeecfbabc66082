"""Retraining and rollback as recorded actions: settings, the action log, the retrain guard,
promotion and rollback.

Every request and outcome is a row of the ``actions`` table, so the table tells the whole story:

- ``retrain``: one row per request; ``skipped`` (cooldown, or another retraining is running),
  else ``running`` until ``finish_action`` sets ``promoted``, ``rejected`` or ``failed``;
- ``gate``: the challenger-vs-champion verdict with the scores behind it;
- ``promote``: the champion alias moved (``promoted``) or not (``rejected``), and who decided;
- ``rollback``: ``rolled_back``, ``skipped`` (nothing to undo) or ``failed`` (no good version).

Functions take a Session; the caller owns the transaction. ``claim_retrain`` is meant to run in a
short transaction of its own: its ``running`` row is the guard the long training runs under.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from monitoring_lib.actions.registry import CHAMPION, ModelRegistry
from monitoring_lib.actions.training import GateResult, PromotionDecision
from monitoring_lib.durations import format_duration
from monitoring_lib.store.models import Action, Model
from monitoring_lib.store.repository import require_model_id

if TYPE_CHECKING:
    # Type-only: spec.py is meant to embed ActionsSpec, so this module must not import it.
    from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.spec.actions import ActionsSpec, RetrainSpec


def actions_of(spec: MonitorSpec) -> ActionsSpec:
    """The spec's ``actions:`` section (typed and validated when the spec loads)."""
    return spec.actions


class ActionKind(StrEnum):
    RETRAIN = "retrain"
    GATE = "gate"
    PROMOTE = "promote"
    ROLLBACK = "rollback"


class ActionStatus(StrEnum):
    REQUESTED = "requested"
    RUNNING = "running"
    PROMOTED = "promoted"
    REJECTED = "rejected"
    FAILED = "failed"
    SKIPPED = "skipped"
    ROLLED_BACK = "rolled_back"


STARTED = (ActionStatus.RUNNING, ActionStatus.PROMOTED, ActionStatus.REJECTED, ActionStatus.FAILED)
"""Statuses of a retrain row whose retraining really began (what the cooldown counts)."""


def record_action(
    session: Session,
    model_id: int,
    kind: ActionKind,
    status: ActionStatus,
    *,
    now: datetime,
    reasons: tuple[str, ...] | list[str] = (),
    metrics: dict[str, Any] | None = None,
    outcome: str | None = None,
    decided_by: str | None = None,
    flow_run_id: str | None = None,
    window_start: datetime | None = None,
    finished: bool = True,
) -> int:
    """Append one row to the action log; returns its id."""
    row = Action(
        model_id=model_id,
        window_start=window_start,
        kind=str(kind),
        status=str(status),
        reasons=list(reasons),
        metrics=metrics or {},
        outcome=outcome,
        decided_by=decided_by,
        flow_run_id=flow_run_id,
        requested_at=now,
        finished_at=now if finished else None,
    )
    session.add(row)
    session.flush()
    return row.id


def finish_action(
    session: Session,
    action_id: int,
    status: ActionStatus,
    *,
    now: datetime,
    outcome: str,
    metrics: dict[str, Any] | None = None,
    reasons: tuple[str, ...] | list[str] = (),
) -> None:
    """Close a running action (a retraining) with its outcome; added reasons and metrics merge."""
    row = session.get(Action, action_id, with_for_update=True)
    if row is None:
        raise LookupError(f"no action #{action_id}")
    row.status, row.outcome, row.finished_at = str(status), outcome, now
    row.metrics = {**row.metrics, **(metrics or {})}
    row.reasons = [*row.reasons, *reasons]
    session.flush()


def action_history(session: Session, model_id: int) -> list[Action]:
    """The model's action log in the order it was written."""
    query = select(Action).where(Action.model_id == model_id).order_by(Action.id)
    return list(session.execute(query).scalars())


_RETRAIN_LOCK_SPACE = zlib.crc32(b"driftwise.retrain") - 2**31
"""First key of the two-int advisory lock (the model id is the second): no clash across models."""


def retrain_lock(session: Session, model_id: int) -> bool:
    """Try to take the model's retrain lock until the transaction ends; False if another holds it.

    PostgreSQL: ``pg_try_advisory_xact_lock`` (never waits). SQLite has no advisory locks: a no-op
    UPDATE of the model's row takes the database's write lock instead, which waits (busy timeout)
    for the other writer to commit and then returns True; the ``running`` row that writer left
    is then what refuses the second retraining (see ``claim_retrain``).
    """
    if session.get_bind().dialect.name == "postgresql":
        taken = session.execute(
            text("SELECT pg_try_advisory_xact_lock(:space, :model)"),
            {"space": _RETRAIN_LOCK_SPACE, "model": model_id},
        ).scalar_one()
        return bool(taken)
    session.execute(update(Model).where(Model.id == model_id).values(name=Model.name))
    return True


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _latest(
    session: Session, model_id: int, kind: ActionKind, statuses: tuple[str, ...]
) -> Action | None:
    query = (
        select(Action)
        .where(Action.model_id == model_id, Action.kind == kind)
        .where(Action.status.in_([str(status) for status in statuses]))
        .order_by(Action.requested_at.desc(), Action.id.desc())
        .limit(1)
    )
    return session.execute(query).scalar_one_or_none()


def cooldown_until(
    session: Session, model_id: int, now: datetime, cooldown: timedelta
) -> datetime | None:
    """When the cooldown after the last started retraining ends, if that is after ``now``."""
    latest = _latest(session, model_id, ActionKind.RETRAIN, STARTED)
    if latest is None or latest.requested_at + cooldown <= now:
        return None
    return latest.requested_at + cooldown


def in_cooldown(session: Session, model_id: int, now: datetime, cooldown: timedelta) -> bool:
    """True while a retraining started less than ``cooldown`` ago (whatever its outcome)."""
    return cooldown_until(session, model_id, now, cooldown) is not None


def _expire_abandoned(
    session: Session, model_id: int, now: datetime, stale_after: timedelta
) -> None:
    """A running retraining older than ``stale_after`` lost its flow: mark it failed."""
    rows = session.execute(
        select(Action).where(
            Action.model_id == model_id,
            Action.kind == ActionKind.RETRAIN,
            Action.status == ActionStatus.RUNNING,
            Action.requested_at <= now - stale_after,
        )
    ).scalars()
    for row in rows:
        reason = f"abandoned: no outcome {format_duration(stale_after)} after it started"
        finish_action(session, row.id, ActionStatus.FAILED, now=now, outcome=reason)


@dataclass(frozen=True)
class RetrainClaim:
    granted: bool
    action_id: int
    """The request's retrain row: ``running`` when granted (finish it), else ``skipped``."""
    reasons: tuple[str, ...]


def claim_retrain(
    session: Session,
    model_id: int,
    settings: RetrainSpec,
    *,
    now: datetime,
    reasons: tuple[str, ...] | list[str] = (),
    flow_run_id: str | None = None,
    window_start: datetime | None = None,
) -> RetrainClaim:
    """Record a retrain request and grant it unless one is running or the cooldown holds.

    Commit right after: the commit releases the lock and publishes the ``running`` row.
    """
    refusal = _refusal(session, model_id, settings, now)
    status = ActionStatus.SKIPPED if refusal else ActionStatus.RUNNING
    action_id = record_action(
        session, model_id, ActionKind.RETRAIN, status, now=now,
        reasons=[*reasons, *([refusal] if refusal else [])], outcome=refusal,
        flow_run_id=flow_run_id, window_start=window_start, finished=refusal is not None,
        metrics={"cooldown": format_duration(settings.cooldown)},
    )  # fmt: skip
    return RetrainClaim(refusal is None, action_id, (refusal,) if refusal else ())


def _refusal(session: Session, model_id: int, settings: RetrainSpec, now: datetime) -> str | None:
    if not retrain_lock(session, model_id):
        return "skipped: another retraining of this model is starting right now"
    _expire_abandoned(session, model_id, now, settings.stale_after)
    running = _latest(session, model_id, ActionKind.RETRAIN, (ActionStatus.RUNNING,))
    if running is not None:
        return f"skipped: retraining #{running.id} is running since {_when(running.requested_at)}"
    until = cooldown_until(session, model_id, now, settings.cooldown)
    if until is not None:
        every = format_duration(settings.cooldown)
        return f"skipped: in cooldown until {_when(until)} (one retraining per {every})"
    return None


def record_gate(
    session: Session,
    model_id: int,
    result: GateResult,
    *,
    now: datetime,
    champion_version: int | None,
    challenger_version: int,
    scores: dict[str, Any] | None = None,
    flow_run_id: str | None = None,
) -> int:
    """The gate's verdict, with the compared numbers (and every score, if given)."""
    metrics = {
        **result.as_metrics(),
        "champion_version": champion_version,
        "challenger_version": challenger_version,
        **({"scores": scores} if scores else {}),
    }
    status = ActionStatus.PROMOTED if result.promote else ActionStatus.REJECTED
    return record_action(
        session, model_id, ActionKind.GATE, status, now=now, reasons=result.reasons,
        metrics=metrics, decided_by="gate", flow_run_id=flow_run_id,
        outcome=f"challenger v{challenger_version} {'passed' if result.promote else 'failed'}",
    )  # fmt: skip


def apply_promotion(
    session: Session,
    registry: ModelRegistry,
    model_name: str,
    challenger_version: int,
    decision: PromotionDecision,
    *,
    now: datetime,
    flow_run_id: str | None = None,
) -> int:
    """Point the champion at the challenger if ``decision`` says so; record who decided."""
    model_id = require_model_id(session, model_name)
    previous = registry.get_alias(model_name, CHAMPION)
    if decision.promote:
        registry.set_alias(model_name, CHAMPION, challenger_version)
        status, outcome = ActionStatus.PROMOTED, f"champion v{previous} -> v{challenger_version}"
    else:
        status, outcome = ActionStatus.REJECTED, f"champion stays v{previous}"
    return record_action(
        session, model_id, ActionKind.PROMOTE, status, now=now, reasons=decision.reasons,
        metrics={"from_version": previous, "to_version": challenger_version}, outcome=outcome,
        decided_by=decision.decided_by, flow_run_id=flow_run_id,
    )  # fmt: skip


def last_promotion(session: Session, model_id: int) -> Action | None:
    return _latest(session, model_id, ActionKind.PROMOTE, (ActionStatus.PROMOTED,))


def champion_to_mark_good(
    session: Session, registry: ModelRegistry, model_name: str, *, now: datetime, within: timedelta
) -> int | None:
    """The champion, when it is not marked good yet and has served past the rollback period.

    Call it after a window with no critical finding and mark the version good: that mark is what
    a later rollback returns to. A champion never promoted here (the first one) is due at once.
    """
    champion = registry.get_alias(model_name, CHAMPION)
    if champion is None or champion in {
        v.version for v in registry.versions(model_name) if v.is_good
    }:
        return None
    promoted = last_promotion(session, require_model_id(session, model_name))
    if promoted is not None and promoted.metrics.get("to_version") == champion:
        return champion if promoted.requested_at + within <= now else None
    return champion


@dataclass(frozen=True)
class RollbackResult:
    status: ActionStatus
    from_version: int | None
    to_version: int | None
    """The champion after the rollback (unchanged unless ``status`` is rolled_back)."""
    needs_critical_alert: bool
    """The degradation stands and nothing was rolled back: a person must act."""
    reasons: tuple[str, ...]
    action_id: int


def rollback(
    session: Session,
    registry: ModelRegistry,
    model_name: str,
    *,
    now: datetime,
    reason: str,
    within: timedelta | None = None,
    decided_by: str = "policy",
    flow_run_id: str | None = None,
) -> RollbackResult:
    """Point the champion back to the latest good version; a second call changes nothing.

    A champion already marked good stays (versions are marked good only once they have served
    past the rollback period). With ``within``, only a promotion that recent is undone.
    """
    model_id = require_model_id(session, model_name)
    # Lock the model's row: two rollbacks at once run one after the other and log one change.
    session.execute(select(Model.id).where(Model.id == model_id).with_for_update())
    champion = registry.get_alias(model_name, CHAMPION)
    plan = _rollback_plan(session, registry, model_name, model_id, champion, now, within)
    if plan.status is ActionStatus.ROLLED_BACK and plan.target is not None:
        registry.set_alias(model_name, CHAMPION, plan.target)
    final = plan.target if plan.target is not None else champion
    action_id = record_action(
        session, model_id, ActionKind.ROLLBACK, plan.status, now=now, reasons=[reason, plan.why],
        metrics={"from_version": champion, "to_version": final}, outcome=plan.why,
        decided_by=decided_by, flow_run_id=flow_run_id,
    )  # fmt: skip
    reasons = (reason, plan.why)
    return RollbackResult(plan.status, champion, final, plan.alert, reasons, action_id)


@dataclass(frozen=True)
class _RollbackPlan:
    status: ActionStatus
    target: int | None
    why: str
    alert: bool


def _rollback_plan(
    session: Session,
    registry: ModelRegistry,
    model_name: str,
    model_id: int,
    champion: int | None,
    now: datetime,
    within: timedelta | None,
) -> _RollbackPlan:
    good = {info.version for info in registry.versions(model_name) if info.is_good}
    if champion is not None and champion in good:
        why = f"skipped: already at last good version v{champion}"
        return _RollbackPlan(ActionStatus.SKIPPED, None, why, alert=False)
    promoted = last_promotion(session, model_id)
    if within is not None and (promoted is None or promoted.requested_at < now - within):
        why = f"skipped: no promotion in the last {format_duration(within)}, nothing to undo"
        return _RollbackPlan(ActionStatus.SKIPPED, None, why, alert=True)
    target = registry.last_good(model_name, excluding=() if champion is None else (champion,))
    if target is None:
        why = "no version is marked good: the champion stays"
        return _RollbackPlan(ActionStatus.FAILED, None, why, alert=True)
    why = f"champion v{champion} -> last good version v{target}"
    return _RollbackPlan(ActionStatus.ROLLED_BACK, target, why, alert=False)
