"""Rollback: point the champion back to the last version marked good.

Idempotent: a second rollback of the same promotion changes nothing. With no good version to go
back to, nothing changes and the outcome says so (the flow pages someone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitoring_lib.actions.log import (
    ActionKind,
    ActionStatus,
    record_action,
)
from monitoring_lib.actions.promotion import last_promotion
from monitoring_lib.actions.registry import CHAMPION, ModelRegistry
from monitoring_lib.durations import format_duration
from monitoring_lib.store.models import Model
from monitoring_lib.store.repository import require_model_id


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
