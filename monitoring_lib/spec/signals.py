"""Optional spec sections for signals beyond per-column drift: multivariate drift, prediction
confidence and which drift matters. Every key has a default, so a spec may leave them out."""

from __future__ import annotations

from pydantic import Field, model_validator

from monitoring_lib.spec.base import Strict


class MultivariateSettings(Strict):
    """The ``multivariate:`` section: PCA reconstruction error fitted on the reference."""

    enabled: bool = True
    """Compute ``multivariate.*`` for each window."""
    variance: float = Field(0.65, gt=0, lt=1)
    """Share of the reference's standardised variance the kept principal components explain."""
    max_categories: int = Field(10, ge=1, le=100)
    """Most frequent values of each categorical column one-hot encoded; the rest count as none."""
    fit_max_rows: int = Field(20_000, ge=200)
    """Reference rows (a seeded uniform sample) the encoder and PCA see; half of them fit, the
    other half give the held-out errors the verdict is calibrated on."""
    min_rows: int = Field(100, ge=10)
    """Fewest window rows (and held-out reference rows) for a verdict."""
    alpha: float = Field(0.01, gt=0, lt=1)
    """Tail probability of the window's mean error under the reference-vs-reference null below
    which the window is flagged."""
    effect_floor: float = Field(0.03, ge=0)
    """Relative increase of the mean error over the reference's below which nothing is flagged."""
    resamples: int = Field(500, ge=50)
    """Reference resamples of the window's size that calibrate the verdict."""


class ConfidenceSettings(Strict):
    """The ``confidence:`` section: which predictions count as low-confidence."""

    low: tuple[float, float] = (0.4, 0.6)
    """Binary: a positive-class probability inside this band is a low-confidence prediction."""
    top_below: float = Field(0.5, gt=0, le=1)
    """Multiclass: a top class probability below this is a low-confidence prediction."""
    alpha: float = Field(0.001, gt=0, lt=1)
    """p-value below which a share or a mean differs from the reference's (four tests a window,
    so about one false alarm in 250 unchanged windows)."""
    min_change: float = Field(0.02, ge=0)
    """Smallest absolute change of a share or mean probability that is flagged."""

    @model_validator(mode="after")
    def _ordered_band(self) -> ConfidenceSettings:
        lower, upper = self.low
        if not 0 <= lower < upper <= 1:
            raise ValueError(
                f"low: expected [lower, upper] with 0 <= lower < upper <= 1, got {list(self.low)}"
            )
        return self


class ImpactSettings(Strict):
    """The ``impact:`` section: how strongly each drifted column's drift moved with quality."""

    metric: str | None = Field(None, pattern=r"^quality\.")
    """The quality metric (default: quality.accuracy, or quality.rmse for regression)."""
    min_windows: int = Field(8, ge=3)
    """Fewest past windows with both a drift score and the quality metric for a correlation."""
    lookback_windows: int = Field(90, ge=3)
    """Most recent stored windows the correlation reads."""
