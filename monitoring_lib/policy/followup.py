"""What a run does after the policy's verdict: the subflow it starts, or the champion it backs.

A window that retrains or rolls back starts that subflow (retraining only where the spec
configures it); any other window without a critical finding counts toward marking the serving
champion 'good', the version a later rollback returns to. An empty window does none of these:
with no predictions there is nothing to judge the model by, whatever its rules say.
"""

from __future__ import annotations

from enum import StrEnum

from monitoring_lib.policy.rules import Evaluation
from monitoring_lib.spec.actions import ActionsSpec
from monitoring_lib.spec.base import Decision, Severity


class FollowUp(StrEnum):
    RETRAIN = "retrain"
    ROLLBACK = "rollback"
    MARK_GOOD = "mark_good"
    """No action; the champion served this window without a critical finding."""
    NOTHING = "nothing"


def follow_up(evaluation: Evaluation, actions: ActionsSpec, *, rows: int | None = None) -> FollowUp:
    """The step after ``evaluation``, by the decision and the spec's ``actions:``; nothing for a
    window of ``rows`` 0."""
    if rows == 0:
        return FollowUp.NOTHING
    if evaluation.decision is Decision.RETRAIN and actions.retrain is not None:
        return FollowUp.RETRAIN
    if evaluation.decision is Decision.ROLLBACK:
        return FollowUp.ROLLBACK
    if evaluation.severity != Severity.CRITICAL:
        return FollowUp.MARK_GOOD
    return FollowUp.NOTHING


def held_back(evaluation: Evaluation, rows: int | None) -> str | None:
    """Why a retraining or rollback the verdict called for was not started, if it was not."""
    if rows == 0 and evaluation.decision in (Decision.RETRAIN, Decision.ROLLBACK):
        return f"{evaluation.decision}: not started, the window has no predictions"
    return None
