"""Data-quality constraints learnt from the reference profile, and schema checks of a window.

The constraints are derived once from the reference profile and stored as JSON, so a window is
judged against the data the model was trained on, not against hand-written thresholds. They are
evaluated on the window's whylogs profile; no raw rows are needed.

A range rule judges the share of a window's values outside the reference's widened range, not
its single most extreme value: a larger window reaches further into a heavy tail (log-normal
amounts, counts), so "any value outside" fails more often the larger the window even when
nothing changed. A unit change, a sign flip, a feature scaled by 100 or a burst of sentinel
values moves a share of the rows, and that share is what fails the rule. The range stays the
reference's widened [min, max] rather than, say, its 0.1%-99.9% quantiles: those leave about 0.1%
of a heavy-tailed column outside by construction, so a window of a few hundred rows would fail
on a single ordinary tail value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

from monitoring_lib.metrics.profiling import ColumnProfileView, DatasetProfileView, MetricConstraint
from monitoring_lib.metrics.profiling import factories as constraint_factories
from monitoring_lib.metrics.profiling.summary import frequent_items_of
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus

LISTED_LIMIT = 20
"""At most this many offending values or columns are listed in a record's details."""

DEFAULT_RANGE_MARGIN = 0.1
DEFAULT_RANGE_TOLERANCE = 0.005
"""Share of a window's values allowed outside the range before the rule fails.

Above the 0.35% rank error (99% confidence) of the window's KLL sketch (k=1024), so the sketch's
estimate alone cannot fail a window; low enough that sentinels in 1% of the rows fail it when
the reference has thousands of values (a smaller one adds to it, see ``_range_tolerance``).
"""

_UNSEEN_SHARE_99 = 6.64
"""The share of a distribution outside the range of n values drawn from it follows Beta(2, n-1);
it is below 6.64/(n+1) for 99% of references, so tiny references are not failed for being tiny.
"""

_MAX_RANGE_TOLERANCE = 0.5
"""A reference-size allowance never lets more than half the window out of range unnoticed."""


@dataclass(frozen=True, slots=True)
class RangeRule:
    """Fails a window when more than ``tolerance`` of its values lie outside [lower, upper].

    [lower, upper] is the reference's [min, max] widened by ``margin`` of its width on each side.
    ``tolerance`` includes the allowance for a small reference of ``reference_n`` values; 0 is
    the strict rule (any value outside fails). ``reference_n`` is None in rules stored before it
    was recorded.
    """

    column: str
    lower: float
    upper: float
    reference_min: float
    reference_max: float
    tolerance: float = DEFAULT_RANGE_TOLERANCE
    margin: float = DEFAULT_RANGE_MARGIN
    reference_n: int | None = None


@dataclass(frozen=True, slots=True)
class CategoryRule:
    column: str
    allowed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SkippedRule:
    """A rule that could not be learnt; each window records it as SKIPPED with this reason."""

    metric: str
    column: str
    reason: str


@dataclass(frozen=True, slots=True)
class ConstraintSet:
    """The constraints learnt from a reference profile; stored as JSON next to it.

    ``range_margin`` and ``range_tolerance`` are the settings the range rules were learnt with.
    """

    not_null: tuple[str, ...] = ()
    ranges: tuple[RangeRule, ...] = ()
    categories: tuple[CategoryRule, ...] = ()
    skipped: tuple[SkippedRule, ...] = ()
    range_margin: float = DEFAULT_RANGE_MARGIN
    range_tolerance: float = DEFAULT_RANGE_TOLERANCE

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ConstraintSet:
        """Also reads sets stored before range tolerances: their rules get the default one."""
        try:
            data = json.loads(text)
            tolerance = float(data.get("range_tolerance", DEFAULT_RANGE_TOLERANCE))
            stored = {"margin": float(data["range_margin"]), "tolerance": tolerance}
            return cls(
                not_null=tuple(data["not_null"]),
                ranges=tuple(RangeRule(**(stored | rule)) for rule in data["ranges"]),
                categories=tuple(
                    CategoryRule(rule["column"], tuple(rule["allowed"]))
                    for rule in data["categories"]
                ),
                skipped=tuple(SkippedRule(**rule) for rule in data["skipped"]),
                range_margin=float(data["range_margin"]),
                range_tolerance=tolerance,
            )
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise ValueError(f"not a stored constraint set: {error!r}") from error


# --- deriving constraints from the reference ---------------------------------------------------

_Rule = str | RangeRule | CategoryRule | SkippedRule
"""A learnt rule; a bare column name is a not-null rule."""


def _range_tolerance(tolerance: float, reference_n: int) -> float:
    """``tolerance`` plus the share a reference of ``reference_n`` values may not have covered.

    The allowance is below 0.01% from 100k reference values on; it keeps a range learnt from a
    few hundred values from failing every window. A tolerance of 0 stays strict.
    """
    if tolerance == 0:
        return 0.0
    allowance = _UNSEEN_SHARE_99 / (reference_n + 1)
    return max(tolerance, min(tolerance + allowance, _MAX_RANGE_TOLERANCE))


def _range_rule(
    column: str, minimum: float, maximum: float, n: int, *, margin: float, tolerance: float
) -> RangeRule:
    """Reference range widened by ``margin`` of its width on each side.

    A constant reference column has no width: its value (or 1 when it is 0) stands in, so a
    constant feature is not failed by a rounding difference.
    """
    width = (maximum - minimum) or abs(minimum) or 1.0
    return RangeRule(
        column,
        minimum - margin * width,
        maximum + margin * width,
        minimum,
        maximum,
        tolerance=_range_tolerance(tolerance, n),
        margin=margin,
        reference_n=n,
    )


def _category_rule(column: ColumnProfileView, name: str) -> CategoryRule | SkippedRule:
    items, exact = frequent_items_of(column)
    metric = Metric.DQ_ALLOWED_CATEGORIES.value
    if not exact:
        reason = "the reference has too many distinct values (over 768) to list them all exactly"
        return SkippedRule(metric, name, reason)
    if not items:
        return SkippedRule(metric, name, "the reference column has no values")
    return CategoryRule(name, tuple(sorted(item.value for item in items)))


def _column_rules(
    column: ColumnProfileView,
    name: str,
    *,
    numerical: bool,
    categorical: bool,
    margin: float,
    tolerance: float,
) -> list[_Rule]:
    counts = column.get_metric("counts")
    rules: list[_Rule] = []
    if counts.n.value == 0:
        rules.append(SkippedRule(Metric.DQ_NOT_NULL.value, name, "the reference has no rows"))
    elif counts.null.value == 0:
        rules.append(name)
    if numerical:
        dist = column.get_metric("distribution")
        if dist is None or dist.n == 0:
            reason = "the reference column has no numeric values"
            rules.append(SkippedRule(Metric.DQ_RANGE.value, name, reason))
        else:
            minimum, maximum, n = float(dist.min), float(dist.max), int(dist.n)
            rules.append(_range_rule(name, minimum, maximum, n, margin=margin, tolerance=tolerance))
    if categorical:
        rules.append(_category_rule(column, name))
    return rules


def derive_constraints(
    reference_view: DatasetProfileView,
    *,
    numerical: Collection[str],
    categorical: Collection[str],
    range_margin: float = DEFAULT_RANGE_MARGIN,
    range_tolerance: float = DEFAULT_RANGE_TOLERANCE,
) -> ConstraintSet:
    """Learn constraints: no nulls where the reference had none, widened numeric ranges, and the
    categories seen in the reference. Columns the reference cannot support become SKIPPED rules.

    A range rule allows ``range_tolerance`` of a window's values outside (0: none), plus up to
    6.64/(n+1) for a reference of n values, whose range may have missed that much of the data.
    """
    if not (math.isfinite(range_margin) and range_margin >= 0):
        raise ValueError(f"range_margin must be a finite number >= 0, got {range_margin!r}")
    if not 0 <= range_tolerance < 1:
        raise ValueError(f"range_tolerance must be >= 0 and < 1, got {range_tolerance!r}")
    rules: list[_Rule] = []
    for name in dict.fromkeys([*numerical, *categorical]):
        column = reference_view.get_column(name)
        is_numerical, is_categorical = name in numerical, name in categorical
        if column is not None:
            rules += _column_rules(
                column,
                name,
                numerical=is_numerical,
                categorical=is_categorical,
                margin=range_margin,
                tolerance=range_tolerance,
            )
            continue
        metrics = [Metric.DQ_NOT_NULL, *([Metric.DQ_RANGE] if is_numerical else [])]
        metrics += [Metric.DQ_ALLOWED_CATEGORIES] if is_categorical else []
        rules += [SkippedRule(m.value, name, "the column is not in the reference") for m in metrics]
    return ConstraintSet(
        not_null=tuple(rule for rule in rules if isinstance(rule, str)),
        ranges=tuple(rule for rule in rules if isinstance(rule, RangeRule)),
        categories=tuple(rule for rule in rules if isinstance(rule, CategoryRule)),
        skipped=tuple(rule for rule in rules if isinstance(rule, SkippedRule)),
        range_margin=range_margin,
        range_tolerance=range_tolerance,
    )


# --- checking a window's profile ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """One constraint's records for one column and segment."""

    metric: Metric
    column: str
    segment: str

    def result(self, passed: bool, value: float, **details: Any) -> MetricRecord:
        status = MetricStatus.OK if passed else MetricStatus.FAILED
        return MetricRecord(self.metric, float(value), status, self.column, self.segment, details)

    def without_value(self, status: MetricStatus, reason: str) -> MetricRecord:
        details = {"reason": reason}
        return MetricRecord(self.metric, None, status, self.column, self.segment, details)


def _passes(constraint: MetricConstraint, view: DatasetProfileView) -> bool:
    passed, _summary = constraint.validate_profile(view)
    return bool(passed)


def _window_column(view: DatasetProfileView, check: Check) -> ColumnProfileView | MetricRecord:
    """The window's column, or the SKIPPED/INSUFFICIENT_DATA record when it cannot be judged."""
    column = view.get_column(check.column)
    if column is None:
        reason = "the column is missing from the window (see the schema check)"
        return check.without_value(MetricStatus.SKIPPED, reason)
    if column.get_metric("counts").n.value == 0:
        return check.without_value(MetricStatus.INSUFFICIENT_DATA, "the window has no rows")
    return column


def _not_null_record(view: DatasetProfileView, check: Check) -> MetricRecord:
    column = _window_column(view, check)
    if isinstance(column, MetricRecord):
        return column
    counts = column.get_metric("counts")
    null, n = int(counts.null.value), int(counts.n.value)
    passed = _passes(constraint_factories.no_missing_values(check.column), view)
    return check.result(passed, null, observed_null=null, expected_null=0, n=n)


def _range_reason(rule: RangeRule, outside: float, minimum: float, maximum: float) -> str:
    allowed = f"[{rule.lower:.6g}, {rule.upper:.6g}]"
    if rule.tolerance == 0:
        return f"values range from {minimum:.6g} to {maximum:.6g}; none may be outside {allowed}"
    tolerated = f"more than the {rule.tolerance:.2%} tolerated"
    return f"{outside:.2%} of the values are outside {allowed}, {tolerated}"


def _range_record(view: DatasetProfileView, rule: RangeRule, check: Check) -> MetricRecord:
    """Value: the share of values outside the allowed range (KLL estimate, exact when small).

    FAILED when that share exceeds the rule's tolerance; with tolerance 0, when any value is
    outside. ``exact`` says whether the share was counted or estimated by the sketch.
    """
    column = _window_column(view, check)
    if isinstance(column, MetricRecord):
        return column
    dist = column.get_metric("distribution")
    if dist is None or dist.n == 0:
        return check.without_value(MetricStatus.INSUFFICIENT_DATA, "no numeric value in the window")
    kll = dist.kll.value
    estimate = kll.get_cdf([rule.lower])[0] + 1.0 - kll.get_cdf([rule.upper], True)[0]
    outside = min(1.0, max(0.0, float(estimate)))
    minimum, maximum = float(dist.min), float(dist.max)
    inside = rule.lower <= minimum and maximum <= rule.upper
    passed = inside or (rule.tolerance > 0 and outside <= rule.tolerance)
    details = {} if passed else {"reason": _range_reason(rule, outside, minimum, maximum)}
    return check.result(
        passed,
        outside,
        **details,
        observed_min=minimum,
        observed_max=maximum,
        observed_n=int(dist.n),
        exact=not kll.is_estimation_mode(),
        expected_lower=rule.lower,
        expected_upper=rule.upper,
        tolerance=rule.tolerance,
        margin=rule.margin,
        reference_min=rule.reference_min,
        reference_max=rule.reference_max,
        reference_n=rule.reference_n,
    )


def _category_record(view: DatasetProfileView, rule: CategoryRule, check: Check) -> MetricRecord:
    """Value: how many distinct values the reference never had."""
    column = _window_column(view, check)
    if isinstance(column, MetricRecord):
        return column
    items, exact = frequent_items_of(column)
    if exact and not items:
        return check.without_value(MetricStatus.INSUFFICIENT_DATA, "every value is missing")
    expected = {"allowed_count": len(rule.allowed), "allowed": list(rule.allowed[:LISTED_LIMIT])}
    if not exact:
        # The reference listed at most 768 values exactly; a window too varied for the sketch to
        # hold exactly has more distinct values than that, so some of them must be new.
        estimate = column.get_metric("cardinality").estimate or 0.0
        reason = f"about {estimate:.0f} distinct values, more than the {len(rule.allowed)} allowed"
        new = max(1.0, estimate - len(rule.allowed))
        return check.result(False, new, reason=reason, exact=False, **expected)
    allowed = set(rule.allowed)
    unseen = [item for item in items if item.value not in allowed]
    constraint = constraint_factories.frequent_strings_in_reference_set(rule.column, allowed)
    listed = [{"value": item.value, "count": item.est} for item in unseen[:LISTED_LIMIT]]
    rows = sum(item.est for item in unseen)
    return check.result(
        _passes(constraint, view), len(unseen), unseen=listed, unseen_rows=rows, **expected
    )


def check_constraints(
    window_view: DatasetProfileView, constraints: ConstraintSet, *, segment: str = DATASET
) -> list[MetricRecord]:
    """Judge a window's profile: OK or FAILED per rule, with observed and expected in details.

    A column missing from the window is SKIPPED here (the schema check reports it) and the other
    columns are still evaluated.
    """
    records = [
        _not_null_record(window_view, Check(Metric.DQ_NOT_NULL, name, segment))
        for name in constraints.not_null
    ]
    records += [
        _range_record(window_view, rule, Check(Metric.DQ_RANGE, rule.column, segment))
        for rule in constraints.ranges
    ]
    records += [
        _category_record(
            window_view, rule, Check(Metric.DQ_ALLOWED_CATEGORIES, rule.column, segment)
        )
        for rule in constraints.categories
    ]
    for rule in constraints.skipped:
        check = Check(Metric(rule.metric), rule.column, segment)
        records.append(check.without_value(MetricStatus.SKIPPED, rule.reason))
    return records


# --- schema ------------------------------------------------------------------------------------
