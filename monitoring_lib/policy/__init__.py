"""The policy: rules over stored metrics give a decision and its reasons (pure), read and written
through the store for live runs and replays alike."""

from monitoring_lib.policy.followup import FollowUp, follow_up
from monitoring_lib.policy.rules import Evaluation, RuleResult, RuleState, evaluate, replay
from monitoring_lib.policy.store import decide_stored_window, replay_policy
from monitoring_lib.policy.thresholds import WindowMetrics

__all__ = [
    "Evaluation", "FollowUp", "RuleResult", "RuleState", "WindowMetrics", "decide_stored_window",
    "evaluate", "follow_up", "replay", "replay_policy",
]  # fmt: skip
