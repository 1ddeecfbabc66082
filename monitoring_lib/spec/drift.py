"""The ``drift:`` section of a monitor spec: test methods, thresholds and the verdict rule."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitoring_lib.spec.base import Strict

Method = Literal["auto", "ks", "wasserstein", "psi", "jensenshannon", "chisquare", "z"]


class ColumnOverride(Strict):
    """Method and threshold for one column, replacing the global ones."""

    method: Method | None = None
    """Test for this column (None = the global method)."""
    threshold: float | None = Field(None, gt=0)
    """Threshold for this column (None = the global threshold or the method's default)."""


class DriftSettings(Strict):
    """How driftwise tests a window for drift; embedded under a monitor spec's ``drift:`` key."""

    method: Method = "auto"
    """Test for all columns; "auto" = Evidently's choice by column type, size and cardinality."""
    threshold: float | None = Field(None, gt=0)
    """Threshold for all columns (None = the method's Evidently default)."""
    per_column: dict[str, ColumnOverride] = Field(default_factory=dict)
    """Per-column method/threshold overrides, keyed by column name."""
    mode: Literal["calibrated", "evidently"] = "calibrated"
    """Verdict rule: "calibrated" controls false alarms; "evidently" reproduces Evidently's."""
    fdr_alpha: float = Field(0.01, gt=0, lt=1)
    """False-discovery rate of the Benjamini-Hochberg step across a window's columns."""
    effect_floor_numerical: float = Field(0.05, ge=0)
    """Normed Wasserstein distance below which a numerical column is never flagged."""
    effect_floor_categorical: float = Field(0.05, ge=0)
    """Jensen-Shannon distance below which a categorical column is never flagged."""
    calibration_resamples: int = Field(200, ge=20)
    """Reference-vs-reference resamples that calibrate each distance method's null."""
    calibration_max_rows: int = Field(20_000, ge=100)
    """Largest resample; bigger windows rescale the null by the method's sqrt(n) or n law."""
    calibration_grid: int = Field(2_000, ge=100)
    """Reference quantiles the numerical null resamples draw from."""
    seed: int = 0
    """Seed of the calibration resamples, so a rerun gives the same verdicts."""
    drift_share: float = Field(0.5, gt=0, le=1)
    """Share of drifted feature columns at which the dataset counts as drifted."""
    min_rows: int = Field(30, ge=1)
    """Fewest non-null values per sample for a column to be tested."""
    min_segment_rows: int = Field(100, ge=1)
    """Fewest rows a segment needs, in reference and current, to be tested."""
    max_segment_values: int = Field(50, ge=1)
    """Most frequent values per segment column that are tested."""
    report_sample_size: int = Field(50_000, ge=100)
    """Rows per side a window read in chunks keeps as a uniform sample (the schema check, the
    multivariate and confidence signals read it; the HTML report draws ``report.sample_rows``
    of them)."""

    def method_for(self, column: str) -> str:
        """The configured method name of ``column``."""
        override = self.per_column.get(column)
        return override.method if override and override.method else self.method

    def threshold_for(self, column: str) -> float | None:
        """The configured threshold of ``column`` (None = the method's default)."""
        override = self.per_column.get(column)
        return override.threshold if override and override.threshold is not None else self.threshold
