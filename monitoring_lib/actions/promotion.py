"""Promotion: move the champion alias to a challenger the gate (and a person) let through, and
mark a champion 'good' once it has served a whole rollback period without a critical finding."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from monitoring_lib.actions.gate import PromotionDecision
from monitoring_lib.actions.log import (
    ActionKind,
    ActionStatus,
    latest_action,
    record_action,
)
from monitoring_lib.actions.registry import CHAMPION, ModelRegistry
from monitoring_lib.store.models import Action
from monitoring_lib.store.repository import require_model_id


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
    return latest_action(session, model_id, ActionKind.PROMOTE, (ActionStatus.PROMOTED,))


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
