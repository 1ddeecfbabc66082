"""A metric value with its standard error and interval, and the intervals quality metrics use.

Wilson for proportions; Wald on the logit scale for bounded metrics estimated by the delta
method or DeLong (plain Wald undercovers near 1: 87% for a 95% interval at ROC AUC 0.98 on 165
rows, against 94% on the logit scale); plain Wald (central limit theorem) for unbounded means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from monitoring_lib.records import MetricRecord, MetricStatus


@dataclass(frozen=True, slots=True)
class QualityValue:
    """One metric of one window (or pool of windows), with its uncertainty."""

    metric: str
    column: str
    value: float | None
    se: float | None
    lower: float | None
    upper: float | None
    rows: float
    """The denominator the value rests on (rows, predicted or labelled rows of a class)."""
    method: str
    level: float
    reason: str = ""
    """Why ``value`` is None."""
    proportion: bool = False
    """The value is successes / rows, so its standard error under a baseline is known."""

    def se_at(self, baseline: float) -> float | None:
        """Standard error if the true value were ``baseline``: the score-test scale for a
        proportion (steadier than the window's own, which grows as accuracy falls); else ``se``."""
        if self.proportion and self.rows > 0 and 0 < baseline < 1:
            return math.sqrt(baseline * (1 - baseline) / self.rows)
        return self.se

    def details(self) -> dict[str, Any]:
        if self.value is None:
            return {"reason": self.reason}
        return {
            "se": self.se,
            "ci_lower": self.lower,
            "ci_upper": self.upper,
            "ci_level": self.level,
            "ci_method": self.method,
            "denominator_rows": self.rows,
        }

    def record(self, **details: Any) -> MetricRecord:
        """A storable record; a value that cannot be computed is SKIPPED with its reason."""
        status = MetricStatus.OK if self.value is not None else MetricStatus.SKIPPED
        return MetricRecord(
            self.metric, self.value, status, self.column, details={**details, **self.details()}
        )


def z_value(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2)


def missing(metric: str, column: str, level: float, reason: str) -> QualityValue:
    return QualityValue(metric, column, None, None, None, None, 0.0, "", level, reason)


def wald(
    metric: str, column: str, value: float, se: float, rows: float, level: float
) -> QualityValue:
    half = z_value(level) * se
    return QualityValue(metric, column, value, se, value - half, value + half, rows, "clt", level)


def bounded(
    metric: str, column: str, value: float, se: float, rows: float, level: float, method: str
) -> QualityValue:
    """Wald on the logit scale, so the interval stays in [0, 1] and covers near the ends."""
    if 0 < value < 1 and se > 0:
        centre, spread = math.log(value / (1 - value)), se / (value * (1 - value))
        half = z_value(level) * spread
        lower, upper = 1 / (1 + math.exp(-(centre - half))), 1 / (1 + math.exp(-(centre + half)))
    else:  # at 0 or 1 the delta method has no spread: fall back on Wilson's
        lower, upper = wilson_bounds(value * rows, rows, level)
    return QualityValue(metric, column, value, se, lower, upper, rows, method, level)


def wilson_bounds(successes: float, rows: float, level: float) -> tuple[float, float]:
    """Wilson's score interval, equal to scipy's ``binomtest(...).proportion_ci('wilson')``,
    which would also compute an exact p-value: 70% of a multiclass window's time."""
    z = z_value(level)
    share, spread = successes / rows, z * z / rows
    centre = (share + spread / 2) / (1 + spread)
    half = z * math.sqrt(share * (1 - share) / rows + spread / (4 * rows)) / (1 + spread)
    # At 0 or all successes the bound is exactly 0 or 1; rounding must not leave the value outside.
    lower = 0.0 if successes <= 0 else max(centre - half, 0.0)
    upper = 1.0 if successes >= rows else min(centre + half, 1.0)
    return lower, upper
