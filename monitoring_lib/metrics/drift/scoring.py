"""One column's drift score from a prepared reference and the window's statistics.

Scoring is shared by in-memory, streamed and chunk-sketched windows: each gathers the window's
statistics its own way (``sketches``), and this module turns them into a ``ColumnScore`` (method,
threshold, score, effect size and, when calibrating, the null distances) or a ``ColumnProblem``
that says why the column has no score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring_lib.metrics.drift.nulls import (
    gamma_quantile,
    gamma_tail,
    null_binned,
    null_wasserstein,
    null_wasserstein_uniform,
    quantile_support,
)
from monitoring_lib.metrics.drift.sketches import (
    NumericReference,
    NumericWindow,
)
from monitoring_lib.metrics.drift.stattests import (
    DEFAULT_THRESHOLDS,
    DISTANCE_METHODS,
    METHOD_KINDS,
    P_VALUE_METHODS,
    FloatArray,
    Kind,
    auto_method,
    chisquare_p_value,
    contingency_p_value,
    jensenshannon,
    psi,
    z_p_value,
)
from monitoring_lib.records import MetricStatus

# --- chunk-mergeable numerical summaries --------------------------------------------------


# --- null distributions for calibrated thresholds --------------------------------------------


# --- column scoring (shared by in-memory and chunked windows) ------------------------------


@dataclass(frozen=True)
class ColumnProblem:
    """Why a column got no score: recorded as the column's status and reason."""

    status: MetricStatus
    reason: str


@dataclass(frozen=True)
class ScoringOptions:
    """What column scoring needs from the drift settings, without importing them."""

    min_rows: int = 30
    calibrate: bool = True
    resamples: int = 200
    max_rows: int = 20_000
    grid: int = 2_000
    seed: int = 0


@dataclass(frozen=True)
class ColumnScore:
    """One column's drift score, its effect size and, when calibrating, its null distances."""

    kind: Kind
    method: str
    threshold: float
    configured_threshold: float | None
    score: float
    statistic: float | None
    test_p_value: float | None
    effect: float
    reference_rows: int
    current_rows: int
    null: FloatArray | None = None
    null_rows: int = 0
    notes: tuple[str, ...] = ()
    two_sample_p_value: float | None = None
    """Evidently's chi-square treats reference shares as exact; calibrated verdicts use this."""

    @property
    def evidently_drift(self) -> bool:
        """Evidently's own verdict (ks uses <=, chisquare and z use <, distances >=)."""
        if self.method == "ks":
            return self.score <= self.threshold
        if self.method in P_VALUE_METHODS:
            return self.score < self.threshold
        return self.score >= self.threshold

    @property
    def _null_scale(self) -> float:
        n_eff = self.reference_rows * self.current_rows / (self.reference_rows + self.current_rows)
        return float((n_eff / max(self.null_rows, 1)) ** (1.0 if self.method == "psi" else 0.5))

    @property
    def p_value(self) -> float:
        """The test's p-value, or a distance's tail probability under the calibrated null."""
        if self.two_sample_p_value is not None:
            return self.two_sample_p_value
        if self.test_p_value is not None:
            return self.test_p_value
        if self.null is None:
            return float("nan")
        return gamma_tail(self.null, self.score * self._null_scale)

    def null_quantile(self, level: float) -> float:
        """The distance a same-size unchanged window exceeds with probability ``level``."""
        return (
            float("nan")
            if self.null is None
            else gamma_quantile(self.null, level) / self._null_scale
        )

    def details(self) -> dict[str, object]:
        out: dict[str, object] = {
            "method": self.method,
            "threshold": self.threshold,
            "statistic": self.statistic,
            "effect_size": self.effect,
            "effect_measure": "wasserstein_normed" if self.kind == "numerical" else "jensenshannon",
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
        }
        if not np.isnan(self.p_value):
            out["p_value"] = self.p_value
        if self.null is not None:
            out["null_resample_rows"] = self.null_rows
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def resolve_method(
    method: str, kind: Kind, reference_rows: int, unique_values: int
) -> str | ColumnProblem:
    """The method to run, or an ERROR when a configured method does not fit the column type."""
    if method == "auto":
        return auto_method(kind, reference_rows, unique_values)
    if kind not in METHOD_KINDS[method]:
        return ColumnProblem(
            MetricStatus.ERROR, f"method {method!r} does not apply to {kind} columns"
        )
    return method


def _null_rows(n_ref: int, n_cur: int, options: ScoringOptions) -> int:
    """Resample size whose sampling noise equals that of two independent samples."""
    return int(max(1, min(round(n_ref * n_cur / (n_ref + n_cur)), options.max_rows)))


def _binned_null(
    method: str, ref_bins: FloatArray, n_cur: int, options: ScoringOptions
) -> tuple[FloatArray, int]:
    rows = _null_rows(int(ref_bins.sum()), n_cur, options)
    return null_binned(
        method, ref_bins, rows, options.resamples, np.random.default_rng(options.seed)
    ), rows


def _binned_score(
    method: str, ref_bins: FloatArray, cur_bins: FloatArray
) -> tuple[float, float | None, float | None]:
    """(score, statistic, test p-value) of a method over aligned counts."""
    if method == "psi":
        return psi(ref_bins, cur_bins), None, None
    if method == "jensenshannon":
        return jensenshannon(ref_bins, cur_bins), None, None
    statistic, p = (
        chisquare_p_value(ref_bins, cur_bins)
        if method == "chisquare"
        else z_p_value(ref_bins, cur_bins)
    )
    return p, statistic, p


def score_categorical_counts(
    ref_counts: pd.Series,
    cur_counts: pd.Series,
    method: str,
    threshold: float | None,
    options: ScoringOptions,
) -> ColumnScore | ColumnProblem:
    """Score a categorical column from its value counts (NaN excluded), which add across chunks."""
    n_ref, n_cur = int(ref_counts.sum()), int(cur_counts.sum())
    if min(n_ref, n_cur) < options.min_rows:
        return too_few(n_ref, n_cur, options)
    keys = _sorted_keys(ref_counts.index.union(cur_counts.index, sort=False))
    ref_bins = ref_counts.reindex(keys, fill_value=0).to_numpy(dtype=np.float64)
    cur_bins = cur_counts.reindex(keys, fill_value=0).to_numpy(dtype=np.float64)
    resolved = resolve_method(method, "categorical", n_ref, len(keys))
    if isinstance(resolved, ColumnProblem):
        return resolved
    score, statistic, p = _binned_score(resolved, ref_bins, cur_bins)
    null, rows = (None, 0)
    if options.calibrate and resolved in DISTANCE_METHODS:
        null, rows = _binned_null(resolved, ref_bins, n_cur, options)
    notes = _category_notes(ref_counts, cur_counts)
    return ColumnScore(
        "categorical", resolved, _threshold(resolved, threshold), threshold, score, statistic, p,
        jensenshannon(ref_bins, cur_bins), n_ref, n_cur, null, rows, notes,
        contingency_p_value(ref_bins, cur_bins) if resolved == "chisquare" else None,
    )  # fmt: skip


def _sorted_keys(keys: pd.Index) -> list[object]:
    """Keys in ascending order (the z-test's 'first' category); mixed types sort as text."""
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=lambda k: (type(k).__name__, str(k)))


def _category_notes(ref_counts: pd.Series, cur_counts: pd.Series) -> tuple[str, ...]:
    notes = []
    unseen = cur_counts.index.difference(ref_counts.index)
    if len(unseen):
        shown = ", ".join(repr(v)[:40] for v in list(unseen)[:5])
        notes.append(f"{len(unseen)} categories unseen in the reference, e.g. {shown}")
    types = sorted({type(v).__name__ for v in ref_counts.index.append(cur_counts.index)})
    if len(types) > 1:
        notes.append(f"mixed value types ({', '.join(types)}): values compared as they are")
    return tuple(notes)


def _threshold(method: str, configured: float | None) -> float:
    return DEFAULT_THRESHOLDS[method] if configured is None else configured


def too_few(n_ref: int, n_cur: int, options: ScoringOptions) -> ColumnProblem:
    return ColumnProblem(
        MetricStatus.INSUFFICIENT_DATA,
        f"{n_ref} reference and {n_cur} current non-null values; {options.min_rows} needed in each",
    )


def value_counts(series: pd.Series) -> pd.Series:
    """Non-null value counts of a categorical column; empty strings count as values."""
    return series.value_counts(dropna=True, sort=False)


# --- numerical columns ------------------------------------------------------------------------


def clean_numeric(series: pd.Series, side: str) -> tuple[FloatArray, bool] | ColumnProblem:
    """Finite float64 values (NaN and +-inf dropped, as Evidently does) and whether ints."""
    dtype = series.dtype
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        coerced = pd.to_numeric(series, errors="coerce")
        bad = coerced.isna() & series.notna()
        if bad.any():
            example = repr(series[bad].iloc[0])[:40]
            return ColumnProblem(
                MetricStatus.ERROR,
                f"declared numerical but the {side} holds non-numeric values such as {example}",
            )
        values = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    integer = dtype.kind in "iu"
    return values[np.isfinite(values)], integer


def _wasserstein_null(
    reference: NumericReference, rows: int, options: ScoringOptions
) -> FloatArray:
    support, probs = quantile_support(reference.unique, reference.counts, options.grid)
    if reference.unique.size > options.grid:  # coarsened: equal probabilities
        return null_wasserstein_uniform(support, rows, options.resamples, options.seed)
    rng = np.random.default_rng(options.seed)
    return null_wasserstein(support, probs, rows, options.resamples, rng)


def score_numeric(
    reference: NumericReference,
    window: NumericWindow,
    method: str,
    threshold: float | None,
    options: ScoringOptions,
) -> ColumnScore | ColumnProblem:
    """Score a numerical column from its prepared reference and window statistics."""
    n_ref = reference.sorted_values.size
    if min(n_ref, window.rows) < options.min_rows:
        return too_few(n_ref, window.rows, options)
    resolved = resolve_method(method, "numerical", n_ref, window.unique_values)
    if isinstance(resolved, ColumnProblem):
        return resolved
    effect = window.wasserstein / reference.norm
    statistic, p, null, rows = None, None, None, 0
    if resolved == "ks" and window.ks is not None:
        statistic, p = window.ks
        score = p
    elif resolved == "wasserstein":
        score = effect
        if options.calibrate:
            rows = _null_rows(n_ref, window.rows, options)
            null = _wasserstein_null(reference, rows, options) / reference.norm
    elif window.bins is not None:
        score, statistic, p = _binned_score(resolved, *window.bins)
        if options.calibrate and resolved in DISTANCE_METHODS:
            null, rows = _binned_null(resolved, window.bins[0], window.rows, options)
    else:
        return ColumnProblem(
            MetricStatus.ERROR, f"method {resolved!r} needs statistics this window lacks"
        )
    return ColumnScore(
        "numerical", resolved, _threshold(resolved, threshold), threshold, score, statistic, p,
        effect, n_ref, window.rows, null, rows, window.notes,
        contingency_p_value(*window.bins) if resolved == "chisquare" and window.bins else None,
    )  # fmt: skip
