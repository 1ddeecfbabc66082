"""The ``policy:`` section of a monitor spec: rules, their thresholds, persistence and cooldowns.

How a rule is read window by window lives with its evaluation, in ``monitoring_lib.policy``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitoring_lib.durations import Duration
from monitoring_lib.records import Metric
from monitoring_lib.spec.base import Decision, Severity, Strict
from monitoring_lib.spec.thresholds import (  # the rule kinds, re-exported
    AbsoluteThreshold as AbsoluteThreshold,
)
from monitoring_lib.spec.thresholds import AnyThreshold as AnyThreshold
from monitoring_lib.spec.thresholds import BaselineThreshold as BaselineThreshold
from monitoring_lib.spec.thresholds import BurnRateThreshold as BurnRateThreshold
from monitoring_lib.spec.thresholds import CusumThreshold as CusumThreshold
from monitoring_lib.spec.thresholds import LearnedThreshold as LearnedThreshold
from monitoring_lib.spec.thresholds import Threshold as Threshold
from monitoring_lib.spec.thresholds import VolumeThreshold as VolumeThreshold

STORED_METRICS = tuple(metric.value for metric in Metric)
"""The metric names a rule can watch: what driftwise stores (``records.Metric``)."""

MetricKey = tuple[str, str, str]
"""(metric, column, segment): the part of the store's key a rule watches."""


class Direction(StrEnum):
    ABOVE = "above"
    """Bad when high (drift share, RMSE, null fraction)."""
    BELOW = "below"
    """Bad when low (accuracy, F1, ROC AUC, row count, label coverage)."""


POOLED_FAMILIES = ("quality.", "estimated.")
"""Metrics kept as counts, which ``pool`` can add up over windows."""


class Persistence(Strict):
    """How many recent windows must breach before a rule fires."""

    breaches: int = Field(default=1, ge=1)
    """Breaching windows needed (this window must be one of them)."""
    windows: int = Field(default=1, ge=1, le=1000)
    """Out of how many most recent windows, this one included."""

    @model_validator(mode="after")
    def _fits(self) -> Persistence:
        if self.breaches > self.windows:
            raise PydanticCustomError(
                "persistence",
                "breaches ({b}) cannot exceed windows ({w})",
                {"b": self.breaches, "w": self.windows},
            )
        return self


_THRESHOLD_MODELS: dict[str, type[BaseModel]] = {
    "absolute": AbsoluteThreshold,
    "baseline": BaselineThreshold,
    "learned": LearnedThreshold,
    "cusum": CusumThreshold,
    "burn_rate": BurnRateThreshold,
    "volume": VolumeThreshold,
}


def _rule_problem(item: Mapping[str, Any]) -> str:
    """One line per pydantic error inside a rule, located by key path (threshold kinds elided)."""
    loc = [str(part) for part in item["loc"]]
    location = ".".join(part for part in loc if part not in _THRESHOLD_MODELS)
    if item["type"] == "extra_forbidden":
        model: type[BaseModel] = Rule
        for part in loc[:-1]:
            model = _THRESHOLD_MODELS.get(part, Persistence if part == "persistence" else model)
        return f"{location}: unknown key; expected one of: {', '.join(model.model_fields)}"
    if item["type"] == "missing":
        return f"{location}: required key is missing"
    return f"{location}: {item['msg']}" if location else str(item["msg"])


def _clear_conflict(direction: Direction, trigger: Any, clear: Any) -> str | None:
    """Why a clearing threshold of the trigger's kind sits on the bad side of it, if it does."""
    if clear is None or type(clear) is not type(trigger):
        return None
    if isinstance(trigger, LearnedThreshold):
        ok = clear.k <= trigger.k
        return None if ok else f"clear.k ({clear.k}) must be at most threshold.k ({trigger.k})"
    for field in ("value", "delta", "ratio"):
        fire, back = getattr(trigger, field, None), getattr(clear, field, None)
        if fire is None or back is None:
            continue
        above = direction is Direction.ABOVE
        if (back > fire) if above else (back < fire):
            side = "at or below" if above else "at or above"
            return (
                f"clear.{field} ({back}) must be {side} threshold.{field} ({fire}): a rule "
                "clears on the good side of where it fires"
            )
    return None


def _sequential_problem(rule: Rule) -> str | None:
    """A CUSUM keeps its own state: it takes no persistence, no clear threshold, no pool."""
    if isinstance(rule.clear, CusumThreshold):
        return "clear: a CUSUM is a trigger; its own 'clear' sets where it clears"
    if not isinstance(rule.threshold, CusumThreshold):
        return None
    if not rule.metric.startswith(POOLED_FAMILIES):
        return (
            f"threshold: a CUSUM needs a standard error, which {rule.metric} has not "
            "(quality.* and estimated.* metrics carry one)"
        )
    if rule.clear is not None:
        return "clear: a CUSUM rule clears on its statistic: set threshold.clear instead"
    if rule.persistence != Persistence():
        return "persistence: a CUSUM accumulates evidence over windows by itself"
    if rule.pool is not None:
        return "pool: a CUSUM already adds windows up; pooled windows would overlap"
    return None


BURN_RATE_METRIC = "slo.burn_rate"


def _burn_rate_problem(rule: Rule) -> str | None:
    """A burn-rate threshold watches an SLO's burn rate, upwards, and clears on its own spans."""
    burn = [t for t in (rule.threshold, rule.clear) if isinstance(t, BurnRateThreshold)]
    if not burn and rule.metric != BURN_RATE_METRIC:
        return None
    if not isinstance(rule.threshold, BurnRateThreshold):
        return f"threshold: {BURN_RATE_METRIC} takes a burn-rate threshold {{long, short, factor}}"
    if rule.metric != BURN_RATE_METRIC or not rule.column:
        return f"metric: a burn-rate threshold needs metric {BURN_RATE_METRIC} and column: the SLO"
    if rule.direction is not Direction.ABOVE:
        return "direction: a burn rate is bad when high: use 'above'"
    if rule.clear is not None or rule.pool is not None:
        return "clear, pool: a burn-rate rule clears when either span falls back; it pools itself"
    return None


def _pool_problem(rule: Rule) -> str | None:
    if rule.pool is None:
        return None
    if not rule.metric.startswith(POOLED_FAMILIES) or rule.segment:
        where = f"{rule.metric} (segment {rule.segment})" if rule.segment else rule.metric
        return (
            f"pool: {where} is not kept as counts; quality.* and estimated.* metrics of the "
            "whole window can be pooled"
        )
    if rule.pool <= timedelta(0):
        return "pool: the span must be positive, e.g. 7d"
    learned = [t for t in (rule.threshold, rule.clear) if isinstance(t, LearnedThreshold)]
    if learned:
        return (
            "pool: a learned threshold learns from single windows; use an absolute or a "
            "baseline threshold with a pool"
        )
    return None


def _volume_problem(rule: Rule) -> str | None:
    """A volume threshold is a floor on a count: it only makes sense for a falling metric."""
    volume = [t for t in (rule.threshold, rule.clear) if isinstance(t, VolumeThreshold)]
    if volume and rule.direction is not Direction.BELOW:
        return "threshold: a volume threshold is a floor; the rule's direction must be 'below'"
    if volume and rule.pool is not None:
        return "pool: a volume threshold judges one window's row count"
    return None


DATA_MISSING = "data-missing"
"""The name of the built-in rule ``policy.data_missing`` adds."""


class DataMissing(Strict):
    """The built-in "data missing / volume anomaly" rule on ``window.row_count``: it fires on a
    window with no predictions, and on one with less than ``fraction`` of the volume learned
    from the stored row counts of the windows before it."""

    fraction: float = Field(default=0.5, gt=0, le=1, allow_inf_nan=False)
    """The share of the learned volume below which a window is a volume anomaly."""
    window: int = Field(default=14, ge=1, le=1000)
    """How many past windows the volume is learned from (their median row count)."""
    min_history: int = Field(default=3, ge=1)
    """Fewest past windows before the volume is trusted; until then only an empty window fires."""
    severity: Severity = Severity.HIGH
    """How urgent a feed that stops is."""
    action: Literal[Decision.NONE, Decision.ALERT] = Decision.ALERT
    """alert (default) or none: missing data is no reason to retrain or roll back."""

    def rule(self) -> dict[str, Any]:
        """The rule it stands for, as a spec would write it."""
        threshold = {
            "kind": "volume", "fraction": self.fraction, "window": self.window,
            "min_history": min(self.min_history, self.window),
        }  # fmt: skip
        return {
            "name": DATA_MISSING, "metric": "window.row_count", "direction": "below",
            "threshold": threshold, "severity": self.severity.value, "action": self.action.value,
        }  # fmt: skip


class Rule(Strict):
    """One watched metric, its threshold and what to do when it fires."""

    name: str = Field(min_length=1, max_length=200)
    """Unique within the policy; names the rule in alerts and stored evaluations."""
    metric: str = Field(min_length=1, max_length=100)
    """A stored metric name (see records.Metric), e.g. 'drift.share' or 'quality.accuracy'."""
    column: str = Field(default="", max_length=300)
    """The column, for per-column metrics such as 'drift.score'; '' at dataset level."""
    segment: str = Field(default="", max_length=300)
    """A segment 'name=value'; '' for the whole window."""
    direction: Direction
    """'above' when high values are bad, 'below' when low values are."""
    threshold: Threshold
    """When a value breaches: absolute, relative to the champion's baseline, or learned."""
    clear: Threshold | None = None
    """When a firing rule clears (hysteresis); default: the trigger threshold."""
    severity: Severity = Severity.WARNING
    """info, warning, high or critical."""
    persistence: Persistence = Persistence()
    """Fire on k breaches in the last m windows; default: the first breach."""
    cooldown: Duration | None = None
    """Least time between two actions of this rule; default: the policy's ``cooldown``."""
    action: Decision = Decision.ALERT
    """none, alert, retrain or rollback."""
    pool: Duration | None = None
    """Judge the metric over the labelled rows of every window in this span (e.g. ``7d``)
    together, exactly: quality and estimated metrics only, with absolute or baseline thresholds."""
    granularity: Literal["window", "week", "month"] = "window"
    """Which windows the rule judges: the model's own (default), or its weekly or monthly
    roll-ups (listed in the spec's ``rollups``)."""

    @field_validator("metric")
    @classmethod
    def _stored_metric(cls, value: str) -> str:
        """A rule on a name driftwise never stores ('drift.shares') could never fire."""
        if value in STORED_METRICS:
            return value
        close = difflib.get_close_matches(value, STORED_METRICS, n=1, cutoff=0.6)
        hint = (
            f"did you mean '{close[0]}'?"
            if close
            else "it stores " + ", ".join(sorted({m.split(".")[0] + ".*" for m in STORED_METRICS}))
        )
        raise PydanticCustomError(
            "metric",
            "'{value}' is not a metric driftwise stores; {hint}",
            {"value": value, "hint": hint},
        )

    @field_validator("threshold", "clear", mode="before")
    @classmethod
    def _number_is_absolute(cls, value: Any) -> Any:
        if value == "cusum":
            return {"kind": "cusum"}
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return {"kind": "absolute", "value": value} if is_number else value

    @model_validator(mode="after")
    def _clear_on_the_good_side(self) -> Rule:
        problem = _clear_conflict(self.direction, self.threshold, self.clear)
        problem = problem or _sequential_problem(self) or _pool_problem(self)
        problem = problem or _burn_rate_problem(self)
        problem = problem or _volume_problem(self)
        if problem:
            raise PydanticCustomError("policy_rule", "{problem}", {"problem": problem})
        return self

    # Defined last so that it wraps the other validators: every problem names its rule.
    @model_validator(mode="wrap")
    @classmethod
    def _name_the_rule(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as error:
            name = data.get("name") if isinstance(data, dict) else None
            label = f"rule {name!r}" if isinstance(name, str) and name else "rule"
            problems = "; ".join(_rule_problem(i) for i in error.errors(include_url=False))
            raise PydanticCustomError(
                "policy_rule", "{label}: {problems}", {"label": label, "problems": problems}
            ) from None

    @property
    def key(self) -> MetricKey:
        return (self.metric, self.column, self.segment)


class PolicySpec(Strict):
    """The ``policy:`` section of a monitor spec: rules, plus model-wide action limits."""

    rules: list[Rule] = []
    """Evaluated independently; the strongest decision among them wins."""
    cooldown: Duration = timedelta(days=1)
    """Default least time between two actions of one rule (a rule's ``cooldown`` overrides it)."""
    retrain_cooldown: Duration = timedelta(days=7)
    """Deprecated in a spec: ``actions.retrain.cooldown`` is the one retrain cooldown, and this
    follows it (least time between two retrain decisions, whichever rules ask)."""
    rollback_cooldown: Duration = timedelta(days=1)
    """Least time between two rollbacks of the model."""
    data_missing: DataMissing | None = None
    """Adds the built-in rule 'data-missing' (``{}`` for its defaults): an alert when a window
    has no predictions or far fewer than usual. A rule of your own with that name replaces it."""

    @model_validator(mode="before")
    @classmethod
    def _add_data_missing(cls, data: Any) -> Any:
        """The built-in rule joins ``rules`` (once: a dumped and reloaded spec already has it)."""
        if not isinstance(data, dict) or data.get("data_missing") is None:
            return data
        rules = list(data.get("rules") or [])
        named = {r.get("name") if isinstance(r, dict) else getattr(r, "name", None) for r in rules}
        if DATA_MISSING not in named:
            try:
                built_in = DataMissing.model_validate(data["data_missing"])
            except ValidationError:
                return data  # the field's own validation says what is wrong
            rules.append(built_in.rule())
        return {**data, "rules": rules}

    @model_validator(mode="after")
    def _unique_names(self) -> PolicySpec:
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.name in seen:
                raise PydanticCustomError(
                    "policy_rule",
                    "rules[{i}]: rule name '{name}' is used twice; each rule needs its own name",
                    {"i": index, "name": rule.name},
                )
            seen.add(rule.name)
        return self

    @property
    def history_windows(self) -> int:
        """Past windows an evaluation needs: the longest learning window plus persistence."""
        needed = 0
        for rule in self.rules:
            learned = [
                t.window
                for t in (rule.threshold, rule.clear)
                if isinstance(t, LearnedThreshold | VolumeThreshold)
            ]
            needed = max(needed, max(learned, default=0) + rule.persistence.windows - 1)
        return needed

    @property
    def history_span(self) -> timedelta:
        """How far back seasonal thresholds reach (their window counts same-slot windows, which
        ``history_windows`` cannot count without the window's length); persistence included."""
        span = timedelta(0)
        for rule in self.rules:
            for threshold in (rule.threshold, rule.clear):
                if isinstance(threshold, LearnedThreshold) and threshold.seasonal:
                    extra = timedelta(weeks=rule.persistence.windows)
                    span = max(span, threshold.span + extra)
        return span

    def at(self, granularity: str) -> PolicySpec:
        """The policy for windows of ``granularity``: only its rules."""
        rules = [rule for rule in self.rules if rule.granularity == granularity]
        return self.model_copy(update={"rules": rules})

    @property
    def metric_keys(self) -> set[MetricKey]:
        return {rule.key for rule in self.rules}
