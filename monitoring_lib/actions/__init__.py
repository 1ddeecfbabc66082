"""Retraining behind a champion/challenger gate, promotion, rollback, and the model registry
(built-in on the metric store, or MLflow). Every request and outcome is a row of the action log."""

from monitoring_lib.actions.gate import GateResult, PromotionDecision, decide_promotion
from monitoring_lib.actions.log import ActionKind, ActionStatus
from monitoring_lib.actions.registry import CHALLENGER, CHAMPION, ModelRegistry
from monitoring_lib.actions.rollback import RollbackResult
from monitoring_lib.actions.store_registry import StoreRegistry

__all__ = [
    "CHALLENGER", "CHAMPION", "ActionKind", "ActionStatus", "GateResult", "ModelRegistry",
    "PromotionDecision", "RollbackResult", "StoreRegistry", "decide_promotion",
]  # fmt: skip
