"""The retrain guard: at most one retraining of a model at a time, none inside its cooldown.

``claim_retrain`` is meant to run in a short transaction of its own: its ``running`` row is the
guard the long training runs under, and the advisory lock makes two claims at once take turns.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text, update
from sqlalchemy.orm import Session

from monitoring_lib.actions.gate import GateResult
from monitoring_lib.actions.lease import expire_abandoned, renew_lease
from monitoring_lib.actions.log import (
    STARTED,
    ActionKind,
    ActionStatus,
    record_action,
)
from monitoring_lib.durations import format_duration
from monitoring_lib.spec.actions import ActionsSpec, RetrainSpec
from monitoring_lib.store.models import Model, utcnow

if TYPE_CHECKING:
    from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.actions.log import latest_action


def actions_of(spec: MonitorSpec) -> ActionsSpec:
    """The spec's ``actions:`` section (typed and validated when the spec loads)."""
    return spec.actions


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


def cooldown_until(
    session: Session, model_id: int, now: datetime, cooldown: timedelta
) -> datetime | None:
    """When the cooldown after the last started retraining ends, if that is after ``now``."""
    latest = latest_action(session, model_id, ActionKind.RETRAIN, STARTED)
    if latest is None or latest.requested_at + cooldown <= now:
        return None
    return latest.requested_at + cooldown


def in_cooldown(session: Session, model_id: int, now: datetime, cooldown: timedelta) -> bool:
    """True while a retraining started less than ``cooldown`` ago (whatever its outcome)."""
    return cooldown_until(session, model_id, now, cooldown) is not None


@dataclass(frozen=True)
class RetrainClaim:
    granted: bool
    action_id: int
    """The request's retrain row: ``running`` when granted (finish it), else ``skipped``."""
    reasons: tuple[str, ...]
    abandoned_runs: tuple[str, ...] = ()
    """Flow runs whose retraining this claim found dead (no heartbeat) and marked failed."""


def claim_retrain(
    session: Session,
    model_id: int,
    settings: RetrainSpec,
    *,
    now: datetime,
    reasons: tuple[str, ...] | list[str] = (),
    flow_run_id: str | None = None,
    window_start: datetime | None = None,
    alive_at: datetime | None = None,
) -> RetrainClaim:
    """Record a retrain request and grant it unless one is running or the cooldown holds.

    ``now`` is the decision's time (the run's ``as_of``: cooldowns); ``alive_at`` the wall clock
    (leases: see ``lease``). Commit right after: the commit releases the lock and publishes the
    ``running`` row, whose flow then renews its heartbeat until it finishes.
    """
    alive_at = alive_at or utcnow()
    abandoned: list[str | None] = []
    refusal = _refusal(session, model_id, settings, now, alive_at, abandoned)
    status = ActionStatus.SKIPPED if refusal else ActionStatus.RUNNING
    action_id = record_action(
        session, model_id, ActionKind.RETRAIN, status, now=now,
        reasons=[*reasons, *([refusal] if refusal else [])], outcome=refusal,
        flow_run_id=flow_run_id, window_start=window_start, finished=refusal is not None,
        metrics={"cooldown": format_duration(settings.cooldown)},
    )  # fmt: skip
    if refusal is None:
        renew_lease(session, action_id, alive_at)
    runs = tuple(run for run in abandoned if run)
    return RetrainClaim(refusal is None, action_id, (refusal,) if refusal else (), runs)


def _refusal(
    session: Session,
    model_id: int,
    settings: RetrainSpec,
    now: datetime,
    alive_at: datetime,
    abandoned: list[str | None],
) -> str | None:
    if not retrain_lock(session, model_id):
        return "skipped: another retraining of this model is starting right now"
    abandoned += expire_abandoned(
        session, model_id, now=now, alive_at=alive_at, stale_after=settings.stale_after
    )
    running = latest_action(session, model_id, ActionKind.RETRAIN, (ActionStatus.RUNNING,))
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
