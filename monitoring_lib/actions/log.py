"""The action log: one row of the ``actions`` table per request and outcome.

- ``retrain``: one row per request; ``skipped`` (cooldown, or another retraining is running),
  else ``running`` until ``finish_action`` sets ``promoted``, ``rejected`` or ``failed``;
- ``gate``: the challenger-vs-champion verdict with the scores behind it;
- ``promote``: the champion alias moved (``promoted``) or not (``rejected``), and who decided;
- ``rollback``: ``rolled_back``, ``skipped`` (nothing to undo) or ``failed`` (no good version).

Functions take a Session; the caller owns the transaction."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitoring_lib.store.models import Action


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


def latest_action(
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
