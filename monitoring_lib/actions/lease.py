"""The retraining lease: a ``running`` retrain row, kept alive by its flow's heartbeat.

Liveness is measured on the wall clock, unlike every decision (cooldowns, windows), which uses
the run's ``as_of``: whether a process is still alive is a fact about now, not about the window
it works on. A backfill deciding as of last March must still see a retraining that started a
minute ago as running, and must not take one that died an hour ago for alive."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from monitoring_lib.actions.log import ActionKind, ActionStatus, finish_action
from monitoring_lib.durations import format_duration
from monitoring_lib.store.models import Action


def renew_lease(session: Session, action_id: int, alive_at: datetime) -> bool:
    """The heartbeat: the retraining is alive at ``alive_at``; False once it is no longer
    running (finished, or taken as abandoned by another claim)."""
    result = session.execute(
        update(Action)
        .where(Action.id == action_id, Action.status == ActionStatus.RUNNING)
        .values(heartbeat_at=alive_at)
    )
    return bool(getattr(result, "rowcount", 0))


def expire_abandoned(
    session: Session, model_id: int, *, now: datetime, alive_at: datetime, stale_after: timedelta
) -> list[str | None]:
    """Mark failed the running retrainings whose heartbeat stopped ``stale_after`` before
    ``alive_at`` (their flow died); returns their flow run ids, to mark those runs crashed."""
    silent_since = alive_at - stale_after
    rows = session.execute(
        select(Action).where(
            Action.model_id == model_id,
            Action.kind == ActionKind.RETRAIN,
            Action.status == ActionStatus.RUNNING,
            or_(
                Action.heartbeat_at <= silent_since,
                # rows from before heartbeats: the old rule, in the decision's time
                Action.heartbeat_at.is_(None) & (Action.requested_at <= now - stale_after),
            ),
        )
    ).scalars()
    abandoned = []
    for row in rows:
        last = row.heartbeat_at
        reason = (
            f"abandoned: no heartbeat for {format_duration(stale_after)} (last {last:%H:%M:%S} "
            "UTC): its flow run died"
            if last is not None
            else f"abandoned: no outcome {format_duration(stale_after)} after it started"
        )
        finish_action(session, row.id, ActionStatus.FAILED, now=now, outcome=reason)
        abandoned.append(row.flow_run_id)
    return abandoned


def release_lease_of_run(session: Session, flow_run_id: str, *, now: datetime, reason: str) -> int:
    """A crashed flow run gives its retraining back at once; returns how many it held."""
    rows = session.execute(
        select(Action).where(
            Action.flow_run_id == flow_run_id,
            Action.kind == ActionKind.RETRAIN,
            Action.status == ActionStatus.RUNNING,
        )
    ).scalars()
    released = 0
    for row in rows:
        finish_action(session, row.id, ActionStatus.FAILED, now=now, outcome=reason)
        released += 1
    return released
