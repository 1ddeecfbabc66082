"""The thresholds a policy rule compares a value with: absolute, relative to the champion's
baseline, learned from history (optionally seasonal), a CUSUM, an SLO's burn rate, or a share
of the learned volume."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from monitoring_lib.durations import Duration
from monitoring_lib.spec.base import Strict


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
    seasonal: Literal["weekday", "hour_of_week"] | None = None
    """Learn only from windows in the same slot of the week, so a weekly pattern is not a breach:
    ``weekday`` (daily windows: the same weekday) or ``hour_of_week`` (sub-day windows: the same
    hour of the week). ``window`` then counts those windows (``window: 4``: the last 4 Mondays)."""

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

    @property
    def span(self) -> timedelta:
        """How far back a seasonal threshold reaches: ``window`` weeks and the week this is in."""
        return timedelta(weeks=self.window + 1) if self.seasonal else timedelta(0)


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


class BurnRateThreshold(Strict):
    """A multiwindow burn-rate alert on an SLO's error budget (Google's SRE workbook): the rule
    fires when the budget burns faster than ``factor`` over both the ``long`` and the ``short``
    span, and clears when either falls back. ``metric: slo.burn_rate``, ``column``: the SLO.

    Burn rate = the span's share of bad events / (1 - objective): 1 spends the budget exactly by
    the period's end. A span covers the windows starting in (window start - span, window start],
    so it holds whole windows: on daily windows ``{long: 3d, short: 1d, factor: 2}`` (the
    evaluated day and the two before, and that day alone); on hourly windows
    ``{long: 6h, short: 1h, factor: 6}``. The workbook's ``1h/5m at 14.4`` needs windows of 5
    minutes or less; a short span below the window length means the evaluated window alone.
    """

    kind: Literal["burn_rate"] = "burn_rate"
    long: Duration
    """The long span: evidence that the burn is real."""
    short: Duration
    """The short span: evidence that it is still going on (and that the rule clears soon)."""
    factor: float = Field(gt=0, allow_inf_nan=False)
    """The burn rate both spans must exceed (14.4 over 1h spends 2% of a 30-day budget)."""

    @model_validator(mode="after")
    def _short_below_long(self) -> BurnRateThreshold:
        if self.short >= self.long:
            raise PydanticCustomError("threshold", "short must be shorter than long")
        return self


class VolumeThreshold(Strict):
    """A share of the volume a window usually has, for ``window.row_count`` rules: ``{kind:
    volume, fraction: 0.5}`` breaches below half the median row count of the last ``window``
    stored windows, and below ``min_rows`` (default 1: an empty window) whatever the history."""

    kind: Literal["volume"] = "volume"
    fraction: float = Field(default=0.5, gt=0, le=1, allow_inf_nan=False)
    """The share of the learned volume below which a window breaches."""
    window: int = Field(default=14, ge=1, le=1000)
    """How many past windows the volume is learned from (their median row count)."""
    min_history: int = Field(default=3, ge=1)
    """Fewest past windows with a row count before the learned volume is trusted."""
    min_rows: float = Field(default=1, ge=0, allow_inf_nan=False)
    """A floor: fewer rows than this always breach, even before a volume is learned."""

    @model_validator(mode="after")
    def _history_fits(self) -> VolumeThreshold:
        if self.min_history > self.window:
            raise PydanticCustomError(
                "threshold",
                "min_history ({m}) cannot exceed window ({w})",
                {"m": self.min_history, "w": self.window},
            )
        return self


def _threshold_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return str(getattr(value, "kind", None))
    if not isinstance(value, dict):
        return None
    if "kind" in value:
        return str(value["kind"])
    kinds = (
        (("value",), "absolute"),
        (("delta", "ratio"), "baseline"),
        (("h",), "cusum"),
        (("factor", "long", "short"), "burn_rate"),
        (("fraction", "min_rows"), "volume"),
    )
    for keys, kind in kinds:
        if any(key in value for key in keys):
            return kind
    return "learned" if "window" in value or "k" in value else None


Threshold = Annotated[
    Annotated[AbsoluteThreshold, Tag("absolute")]
    | Annotated[BaselineThreshold, Tag("baseline")]
    | Annotated[LearnedThreshold, Tag("learned")]
    | Annotated[CusumThreshold, Tag("cusum")]
    | Annotated[BurnRateThreshold, Tag("burn_rate")]
    | Annotated[VolumeThreshold, Tag("volume")],
    Discriminator(
        _threshold_kind,
        custom_error_type="threshold",
        custom_error_message=(
            "expected a number, {value: ...}, {delta: ...} or {ratio: ...} (relative to the "
            "champion's baseline), {window: N, k: ...} (learned from history), cusum "
            "({kind: cusum, k: ..., h: ...}), {long: 3d, short: 1d, factor: 2} (SLO burn rate) "
            "or {kind: volume, fraction: ...} (row counts)"
        ),
    ),
]


AnyThreshold = (
    AbsoluteThreshold
    | BaselineThreshold
    | LearnedThreshold
    | CusumThreshold
    | BurnRateThreshold
    | VolumeThreshold
)
