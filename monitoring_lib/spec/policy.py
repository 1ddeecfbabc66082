"""The ``policy:`` section of a monitor spec: rules, their thresholds, persistence and cooldowns.

How a rule is read window by window lives with its evaluation, in ``monitoring_lib.policy``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitoring_lib.durations import Duration
from monitoring_lib.spec.base import Decision, Severity, Strict

MetricKey = tuple[str, str, str]
"""(metric, column, segment): the part of the store's key a rule watches."""


class Direction(StrEnum):
    ABOVE = "above"
    """Bad when high (drift share, RMSE, null fraction)."""
    BELOW = "below"
    """Bad when low (accuracy, F1, ROC AUC, row count, label coverage)."""


class AbsoluteThreshold(Strict):
    """A fixed value: ``threshold: 0.5`` (or ``{value: 0.5}``)."""

    kind: Literal["absolute"] = "absolute"
    value: float = Field(allow_inf_nan=False)
    """The threshold itself."""


class BaselineThreshold(Strict):
    """Relative to the champion's value of the metric: ``{delta: -0.05}`` or ``{ratio: 1.2}``."""

    kind: Literal["baseline"] = "baseline"
    delta: float | None = Field(default=None, allow_inf_nan=False)
    """Added to the baseline: accuracy below the champion's minus 0.05 is ``delta: -0.05``."""
    ratio: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """Multiplies the baseline: RMSE above 1.2 times the champion's is ``ratio: 1.2``."""
    baseline_metric: str | None = None
    """The baseline entry to compare with; default: the rule's metric."""

    @model_validator(mode="after")
    def _one_of(self) -> BaselineThreshold:
        if (self.delta is None) == (self.ratio is None):
            raise PydanticCustomError("threshold", "give exactly one of 'delta' or 'ratio'")
        return self


class LearnedThreshold(Strict):
    """Learned from the metric's own history: mean plus (above) or minus (below) k std devs."""

    kind: Literal["learned"] = "learned"
    window: int = Field(ge=2, le=1000)
    """How many past windows to learn from."""
    k: float = Field(ge=0, allow_inf_nan=False)
    """How many standard deviations from the mean."""
    min_history: int | None = Field(default=None, ge=2)
    """Fewest past windows with a value before the threshold is trusted; default: ``window``."""
    min_std: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    """A floor on the standard deviation, so a flat history does not make every wiggle a breach."""

    @model_validator(mode="after")
    def _history_fits(self) -> LearnedThreshold:
        if self.min_history is not None and self.min_history > self.window:
            raise PydanticCustomError(
                "threshold",
                "min_history ({m}) cannot exceed window ({w})",
                {"m": self.min_history, "w": self.window},
            )
        return self

    @property
    def needed(self) -> int:
        return self.min_history or self.window


class CusumThreshold(Strict):
    """A one-sided CUSUM of the metric against the champion's baseline, for small persistent
    drops: ``threshold: cusum`` (the defaults) or ``{kind: cusum, k: 0.5, h: 6.5}``.

    Each window's value is standardised by its own standard error (``details.se``; for a
    proportion, the error at the baseline) and accumulated: ``S = max(0, S + z - k)``, with ``z``
    positive when worse. The rule fires when ``S`` exceeds ``h`` and clears when it falls back
    to ``clear``; a new champion starts it afresh. The defaults (``policy.cusum``) give about
    4,250 windows between false alarms for normal z (2,550 daily windows of 165-row accuracy).
    """

    kind: Literal["cusum"] = "cusum"
    k: float = Field(default=0.5, ge=0, allow_inf_nan=False)
    """Allowance, in standard errors: half the smallest drop worth catching quickly."""
    h: float = Field(default=6.5, gt=0, allow_inf_nan=False)
    """Decision interval: the statistic above which the rule fires."""
    clear: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """The statistic at or below which a firing rule clears; default ``h / 2``."""
    baseline_metric: str | None = None
    """The baseline entry to compare with; default: the rule's metric (``quality.*`` for an
    ``estimated.*`` metric)."""

    @model_validator(mode="after")
    def _clear_below_h(self) -> CusumThreshold:
        if self.clear is not None and self.clear >= self.h:
            raise PydanticCustomError(
                "threshold", "clear ({c}) must be below h ({h})", {"c": self.clear, "h": self.h}
            )
        return self


def _threshold_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return str(getattr(value, "kind", None))
    if not isinstance(value, dict):
        return None
    if "kind" in value:
        return str(value["kind"])
    kinds = ((("value",), "absolute"), (("delta", "ratio"), "baseline"), (("h",), "cusum"))
    for keys, kind in kinds:
        if any(key in value for key in keys):
            return kind
    return "learned" if "window" in value or "k" in value else None


Threshold = Annotated[
    Annotated[AbsoluteThreshold, Tag("absolute")]
    | Annotated[BaselineThreshold, Tag("baseline")]
    | Annotated[LearnedThreshold, Tag("learned")]
    | Annotated[CusumThreshold, Tag("cusum")],
    Discriminator(
        _threshold_kind,
        custom_error_type="threshold",
        custom_error_message=(
            "expected a number, {value: ...}, {delta: ...} or {ratio: ...} (relative to the "
            "champion's baseline), {window: N, k: ...} (learned from history), or cusum "
            "({kind: cusum, k: ..., h: ...})"
        ),
    ),
]


AnyThreshold = AbsoluteThreshold | BaselineThreshold | LearnedThreshold | CusumThreshold

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
                t.window for t in (rule.threshold, rule.clear) if isinstance(t, LearnedThreshold)
            ]
            needed = max(needed, max(learned, default=0) + rule.persistence.windows - 1)
        return needed

    @property
    def metric_keys(self) -> set[MetricKey]:
        return {rule.key for rule in self.rules}
