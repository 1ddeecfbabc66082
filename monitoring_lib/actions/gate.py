"""The champion/challenger gate and the promotion decision after it.

Pure: scores in, a verdict with its reasons out. A challenger is promoted only when it beats the
champion by the spec's margin on the gate metric (in that metric's better direction), and, when
the spec asks for it, a person approved in time."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from monitoring_lib.records import metric_direction

MARGIN_TOLERANCE = 1e-12
"""Float slack so that an improvement of exactly the margin (0.81 - 0.80 vs 0.01) passes."""


@dataclass(frozen=True)
class GateResult:
    promote: bool
    reasons: tuple[str, ...]
    metric: str
    margin: float
    champion: float | None = None
    challenger: float | None = None
    improvement: float | None = None
    """How much better the challenger is, in the metric's units (positive is better)."""

    def as_metrics(self) -> dict[str, Any]:
        """The numbers behind the verdict, for the actions table."""
        return {
            "metric": self.metric,
            "margin": self.margin,
            "champion": self.champion,
            "challenger": self.challenger,
            "improvement": self.improvement,
        }


def _finite(scores: Mapping[str, float] | None, metric: str) -> float | None:
    value = None if scores is None else scores.get(metric)
    return float(value) if value is not None and math.isfinite(value) else None


def gate(
    champion_scores: Mapping[str, float] | None,
    challenger_scores: Mapping[str, float],
    metric: str,
    margin: float,
) -> GateResult:
    """Promote only a challenger better than the champion by at least ``margin`` (fail closed).

    ``champion_scores`` None means there is no champion yet: a challenger with the metric wins.
    """
    direction = metric_direction(metric)
    challenger, champion = _finite(challenger_scores, metric), _finite(champion_scores, metric)
    improvement = None
    if direction is not None and challenger is not None and champion is not None:
        improvement = challenger - champion if direction == "higher" else champion - challenger
    promote, reason = _verdict(metric, margin, direction, champion_scores is None, champion,
                               challenger, improvement)  # fmt: skip
    return GateResult(promote, (reason,), metric, margin, champion, challenger, improvement)


def _verdict(
    metric: str,
    margin: float,
    direction: str | None,
    first_model: bool,
    champion: float | None,
    challenger: float | None,
    improvement: float | None,
) -> tuple[bool, str]:
    if direction is None:
        return False, f"{metric} is not a metric the gate can compare"
    if challenger is None:
        return False, f"the challenger has no finite {metric}: not promoted (fail closed)"
    if first_model:
        return (
            True,
            f"no champion yet: the challenger ({metric} {challenger:.4g}) becomes the first",
        )
    if champion is None or improvement is None:
        return False, f"the champion has no finite {metric}: not promoted (fail closed)"
    lower = " (lower is better)" if direction == "lower" else ""
    compared = f"challenger {metric} {challenger:.4g} vs champion {champion:.4g}{lower}"
    if improvement > 0 and improvement >= margin - MARGIN_TOLERANCE:
        return True, f"{compared}: {improvement:+.4g} >= margin {margin:g}"
    return False, f"{compared}: {improvement:+.4g} < margin {margin:g}, not better by the margin"


class ApprovalVerdict(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class Approval:
    """A person's answer to 'promote this challenger?' (or the pause timing out)."""

    verdict: ApprovalVerdict
    decided_by: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reasons: tuple[str, ...]
    decided_by: str
    """'gate', the approver's name, or 'timeout'."""


def decide_promotion(
    result: GateResult, *, approval_required: bool, approval: Approval | None = None
) -> PromotionDecision:
    """Promote when the gate passed and, if approval is required, a person approved in time."""
    if not result.promote:
        return PromotionDecision(False, result.reasons, "gate")
    if not approval_required:
        return PromotionDecision(True, result.reasons, "gate")
    if approval is None:
        return PromotionDecision(False, (*result.reasons, "approval required, none given"), "gate")
    who = approval.decided_by or "unknown approver"
    note = f": {approval.note}" if approval.note else ""
    if approval.verdict is ApprovalVerdict.APPROVED:
        return PromotionDecision(True, (*result.reasons, f"approved by {who}{note}"), who)
    if approval.verdict is ApprovalVerdict.REJECTED:
        return PromotionDecision(False, (*result.reasons, f"rejected by {who}{note}"), who)
    return PromotionDecision(
        False, (*result.reasons, "approval timed out: not promoted"), "timeout"
    )
