"""Drift statistics equal to Evidently's stattests, computed with vectorised NumPy/SciPy.

Evidently's DataDriftPreset needs ~10 minutes and ~9 GB for 1M x 100 rows, so the verdicts
driftwise stores come from these functions; each one reproduces a file of Evidently 0.7.23's
``evidently/legacy/calculations/stattests`` (same binning, same zero filling, same SciPy
calls), so the scores equal Evidently's own to floating-point rounding.

Numerical inputs are float64 arrays with NaN and +-inf already dropped, as Evidently drops them.
Categorical inputs are per-category count vectors aligned over the union of categories seen in
either sample, which is what makes categorical tests mergeable across chunks.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from scipy.spatial import distance
from scipy.stats._stats_py import _attempt_exact_2kssamp  # no public D -> p-value API

from monitoring_lib.records import MetricStatus

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Kind = Literal["numerical", "categorical"]

P_VALUE_METHODS = frozenset({"ks", "chisquare", "z"})
DISTANCE_METHODS = frozenset({"wasserstein", "psi", "jensenshannon"})
METHOD_KINDS: dict[str, frozenset[str]] = {
    "ks": frozenset({"numerical"}),
    "wasserstein": frozenset({"numerical"}),
    "psi": frozenset({"numerical", "categorical"}),
    "jensenshannon": frozenset({"numerical", "categorical"}),
    "chisquare": frozenset({"categorical"}),
    "z": frozenset({"categorical"}),
}
DEFAULT_THRESHOLDS = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "psi": 0.1,
    "jensenshannon": 0.1,
}
KS_EXACT_MAX_N = 10_000
"""SciPy's ks_2samp(method='auto') is exact up to this sample size, asymptotic above."""
BINNED_MIN_UNIQUE = 20
"""Evidently bins numerical data by Sturges edges only when the reference has more uniques."""


def auto_method(kind: Kind, reference_rows: int, unique_values: int) -> str:
    """Evidently's default test (registry._get_default_stattest) for one column.

    ``unique_values`` counts distinct non-null values of reference and current together.
    """
    if reference_rows <= 1000:
        if kind == "numerical" and unique_values > 5:
            return "ks"
        return "chisquare" if unique_values > 2 else "z"
    if kind == "numerical" and unique_values > 5:
        return "wasserstein"
    return "jensenshannon"


def ks_p_value(d: float, n_ref: int, n_cur: int) -> tuple[float, float]:
    """SciPy ks_2samp's two-sided (statistic, p-value) for a known statistic and sizes."""
    if max(n_ref, n_cur) <= KS_EXACT_MAX_N:
        success, d, prob = _attempt_exact_2kssamp(
            n_ref, n_cur, math.gcd(n_ref, n_cur), d, "two-sided"
        )
        if success:
            return float(d), float(np.clip(prob, 0.0, 1.0))
    big, small = sorted([float(n_ref), float(n_cur)], reverse=True)
    prob = stats.kstwo.sf(d, np.round(big * small / (big + small)))
    return float(d), float(np.clip(prob, 0.0, 1.0))


def _ks_d(cdf_diffs: FloatArray) -> float:
    max_s = float(np.max(cdf_diffs))
    min_s = float(np.clip(-np.min(cdf_diffs), 0.0, 1.0))
    return min_s if min_s > max_s else max_s


def ks_sorted(ref_sorted: FloatArray, cur_sorted: FloatArray) -> tuple[float, float]:
    """Two-sample KS (statistic, p-value) of sorted samples, as ks_stattest.py computes it."""
    all_values = np.concatenate([ref_sorted, cur_sorted])
    cdf_ref = np.searchsorted(ref_sorted, all_values, side="right") / ref_sorted.size
    cdf_cur = np.searchsorted(cur_sorted, all_values, side="right") / cur_sorted.size
    return ks_p_value(_ks_d(cdf_ref - cdf_cur), ref_sorted.size, cur_sorted.size)


def wasserstein_sorted(ref_sorted: FloatArray, cur_sorted: FloatArray) -> float:
    """scipy.stats.wasserstein_distance of sorted samples, as the integral of |Q_ref - Q_cur|.

    The quantile form needs no binary search, which halves the time on million-row windows.
    """
    n1, n2 = ref_sorted.size, cur_sorted.size
    if n1 == n2:
        return float(np.mean(np.abs(ref_sorted - cur_sorted)))
    levels = np.sort(
        np.concatenate([np.arange(1, n1 + 1) / n1, np.arange(1, n2 + 1) / n2]), kind="stable"
    )
    widths = np.diff(levels, prepend=0.0)
    mid = levels - widths / 2
    ref_q = ref_sorted[np.minimum((mid * n1).astype(np.int64), n1 - 1)]
    cur_q = cur_sorted[np.minimum((mid * n2).astype(np.int64), n2 - 1)]
    return float(np.sum(np.abs(ref_q - cur_q) * widths))


def wasserstein_norm(reference_std: float) -> float:
    """The denominator wasserstein_distance_norm.py uses: the reference's population std."""
    return max(reference_std, 0.001)


def sturges_edges(lowest: float, highest: float, rows: int, integer: bool) -> FloatArray:
    """np.histogram_bin_edges(combined, 'sturges') from the combined min, max and size alone.

    Knowing only these three numbers is what lets chunked windows reproduce Evidently's bins.
    """
    width = (highest - lowest) / (np.log2(rows) + 1.0)
    first, last = (lowest - 0.5, highest + 0.5) if lowest == highest else (lowest, highest)
    if width:
        if integer and width < 1:
            width = 1.0
        n_bins = int(np.ceil((last - first) / width))
    else:
        n_bins = 1
    return np.linspace(first, last, n_bins + 1, endpoint=True, dtype=np.float64)


def fill_zeroes(percents: FloatArray) -> FloatArray:
    """utils.get_binned_data's replacement of empty bins, so PSI's log stays finite."""
    filled = percents.copy()
    smallest = float(np.min(filled[filled != 0]))
    np.place(filled, filled == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return filled


def psi(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    """psi.py on per-bin counts (Evidently's bins and zero filling)."""
    ref_pct = fill_zeroes(ref_counts / ref_counts.sum())
    cur_pct = fill_zeroes(cur_counts / cur_counts.sum())
    return float(np.sum((ref_pct - cur_pct) * np.log(ref_pct / cur_pct)))


def jensenshannon(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    """jensenshannon.py on per-bin counts (natural log, no zero filling)."""
    return float(
        distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
    )


def chisquare_p_value(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, float]:
    """chisquare_stattest.py: current counts against reference counts scaled to the window.

    A category unseen in the reference has expected count 0, so the statistic is infinite and
    the p-value 0, exactly as in Evidently.
    """
    expected = ref_counts * (cur_counts.sum() / ref_counts.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        result = stats.chisquare(cur_counts, expected)
    return float(result.statistic), float(result.pvalue)


def z_p_value(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, float]:
    """z_stattest.py: two-proportion z-test of 'first category in sort order' vs the rest.

    Counts must be aligned with categories in ascending sort order (Evidently sorts keys).
    """
    if np.count_nonzero(ref_counts) == 1 and np.array_equal(ref_counts > 0, cur_counts > 0):
        return 0.0, 1.0
    n1, n2 = float(ref_counts.sum()), float(cur_counts.sum())
    p1 = (n1 - float(ref_counts[0])) / n1
    p2 = (n2 - float(cur_counts[0])) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(z), float(2 * (1 - stats.norm.cdf(np.abs(z))))


# --- chunk-mergeable numerical summaries --------------------------------------------------


def sketch_counts(
    ref_unique: FloatArray, values: FloatArray
) -> tuple[IntArray, IntArray, FloatArray]:
    """Counts of ``values`` at each reference unique value, and count and sum in each gap.

    Gap ``j`` is the open interval below ``ref_unique[j]`` and above ``ref_unique[j-1]``
    (gap 0 below the minimum, gap ``u`` above the maximum). All three arrays add across chunks.
    """
    u = ref_unique.size
    idx = np.searchsorted(ref_unique, values, side="left")
    hit = idx < u
    hit[hit] = ref_unique[idx[hit]] == values[hit]
    at = np.bincount(idx[hit], minlength=u).astype(np.int64)
    gap_idx = idx[~hit]
    gap_count = np.bincount(gap_idx, minlength=u + 1).astype(np.int64)
    gap_sum = np.bincount(gap_idx, weights=values[~hit], minlength=u + 1).astype(np.float64)
    return at, gap_count, gap_sum


def ks_from_sketch(ref_counts: IntArray, at: IntArray, gap_count: IntArray) -> tuple[float, float]:
    """Exact two-sample KS from the mergeable counts of :func:`sketch_counts`.

    Between two reference values the reference CDF is flat and the current CDF only rises, so
    the extreme differences sit at the reference values and at the first and last current value
    inside each gap, all of which the counts determine.
    """
    n1, n2 = int(ref_counts.sum()), int(at.sum() + gap_count.sum())
    ref_le = np.cumsum(ref_counts)
    cur_le = np.cumsum(at) + np.cumsum(gap_count[:-1])
    ref_before = np.concatenate([[0], ref_le])  # reference CDF inside gap j
    cur_before = np.concatenate([[0], cur_le])  # current count up to the gap's lower end
    occupied = gap_count > 0
    first_in_gap = (cur_before + 1)[occupied] / n2
    last_in_gap = (cur_before + gap_count)[occupied] / n2
    ref_gap = ref_before[occupied] / n1
    diffs = np.concatenate(
        [ref_le / n1 - cur_le / n2, ref_gap - first_in_gap, ref_gap - last_in_gap]
    )
    return ks_p_value(_ks_d(diffs), n1, n2)


def wasserstein_from_sketch(
    ref_unique: FloatArray,
    ref_counts: IntArray,
    at: IntArray,
    gap_count: IntArray,
    gap_sum: FloatArray,
) -> float:
    """Wasserstein-1 distance from mergeable counts: exact unless the CDFs cross inside a gap.

    Not exact in general: inside a gap only the count and sum of current values are kept, so
    the current values there are modelled as sitting at their mean. That is exact when the gap
    holds at most one current value or when the two CDFs do not cross inside it; otherwise the
    error is below (gap width) x (gap count) / n_current, small for any sizeable reference:
    measured within 1e-4 of a reference std on 5k-row references (tests allow 1e-3).
    """
    n1, n2 = float(ref_counts.sum()), float(at.sum() + gap_count.sum())
    below = (gap_count[0] * ref_unique[0] - gap_sum[0]) / n2
    above = (gap_sum[-1] - gap_count[-1] * ref_unique[-1]) / n2
    inner_count, inner_sum = gap_count[1:-1], gap_sum[1:-1]
    a = np.cumsum(ref_counts)[:-1] / n1
    b0 = (np.cumsum(at)[:-1] + np.cumsum(gap_count)[:-2]) / n2
    left, right = ref_unique[:-1], ref_unique[1:]
    mean = np.where(inner_count > 0, inner_sum / np.maximum(inner_count, 1), right)
    inner = np.abs(a - b0) * (mean - left) + np.abs(a - b0 - inner_count / n2) * (right - mean)
    return float(below + above + np.sum(inner))


# --- null distributions for calibrated thresholds --------------------------------------------


def quantile_support(
    ref_unique: FloatArray, ref_counts: IntArray, grid: int
) -> tuple[FloatArray, FloatArray]:
    """The reference as (values, probabilities), coarsened to ``grid`` quantiles when larger.

    Only the null resampling uses this: its noise lives at the CDF's large scales, so a few
    thousand quantiles keep the calibration cheap at any reference size.
    """
    probs = ref_counts / ref_counts.sum()
    if ref_unique.size <= grid:
        return ref_unique, probs
    cdf = np.cumsum(probs)
    targets = (np.arange(grid) + 0.5) / grid
    return ref_unique[np.minimum(np.searchsorted(cdf, targets), ref_unique.size - 1)], np.full(
        grid, 1.0 / grid
    )


def null_wasserstein(
    support: FloatArray, probs: FloatArray, rows: int, resamples: int, rng: np.random.Generator
) -> FloatArray:
    """Wasserstein distances of ``resamples`` draws of ``rows`` values from the reference to it."""
    draws = rng.multinomial(rows, probs, size=resamples) / rows
    gaps = np.diff(support)
    cdf_gap = np.abs(np.cumsum(probs)[:-1] - np.cumsum(draws, axis=1)[:, :-1])
    return np.asarray(cdf_gap @ gaps, dtype=np.float64)


@functools.lru_cache(maxsize=8)
def _uniform_cdf_gaps(grid: int, rows: int, resamples: int, seed: int) -> FloatArray:
    probs = np.full(grid, 1.0 / grid)
    draws = np.random.default_rng(seed).multinomial(rows, probs, size=resamples) / rows
    gaps = np.abs(np.cumsum(probs)[:-1] - np.cumsum(draws, axis=1)[:, :-1])
    gaps.setflags(write=False)
    return gaps


def null_wasserstein_uniform(
    support: FloatArray, rows: int, resamples: int, seed: int
) -> FloatArray:
    """:func:`null_wasserstein` for an equal-probability support (a coarsened reference).

    The draws then depend only on the grid, the size and the seed, not on the column, so one
    resampled CDF matrix serves every column of a window: the calibration costs one matrix
    product per column instead of a fresh multinomial draw (70% of a 100k-row window's time).
    """
    cdf_gap = _uniform_cdf_gaps(support.size, rows, resamples, seed)
    return np.asarray(cdf_gap @ np.diff(support), dtype=np.float64)


def null_binned(
    method: str, ref_counts: FloatArray, rows: int, resamples: int, rng: np.random.Generator
) -> FloatArray:
    """PSI or Jensen-Shannon of ``resamples`` reference-distributed draws over the same bins."""
    draws = rng.multinomial(rows, ref_counts / ref_counts.sum(), size=resamples).astype(np.float64)
    score = psi if method == "psi" else jensenshannon
    return np.array([score(ref_counts, row) for row in draws], dtype=np.float64)


def gamma_tail(null: FloatArray, observed: float) -> float:
    """P(null >= observed) under a moment-matched gamma fit to the null distances.

    The fit gives smooth, small tail probabilities that a few hundred resamples cannot.
    """
    mean, var = float(np.mean(null)), float(np.var(null))
    if var <= 1e-24 or mean <= 0:
        return 1.0 if observed <= float(np.max(null)) + 1e-12 else 0.0
    return float(stats.gamma.sf(observed, mean * mean / var, scale=var / mean))


def gamma_quantile(null: FloatArray, level: float) -> float:
    """The null distance exceeded with probability ``level`` under the same gamma fit."""
    mean, var = float(np.mean(null)), float(np.var(null))
    if var <= 1e-24 or mean <= 0:
        return float(np.max(null))
    return float(stats.gamma.isf(level, mean * mean / var, scale=var / mean))


def benjamini_hochberg(p_values: FloatArray) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (monotone, capped at 1)."""
    m = p_values.size
    if m == 0:
        return p_values.copy()
    order = np.argsort(p_values)
    scaled = p_values[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m, dtype=np.float64)
    out[order] = np.minimum(adjusted, 1.0)
    return out


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


def contingency_p_value(ref_bins: FloatArray, cur_bins: FloatArray) -> float | None:
    """Two-sample chi-square p-value, which counts the reference's own sampling noise."""
    if ref_bins.size < 2:
        return None
    return float(stats.chi2_contingency(np.vstack([ref_bins, cur_bins]), correction=False).pvalue)


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


def unique_sorted(sorted_values: FloatArray) -> tuple[FloatArray, IntArray]:
    """np.unique(..., return_counts=True) for already-sorted data, without sorting again."""
    if sorted_values.size == 0:
        return sorted_values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]]))
    counts = np.diff(np.append(starts, sorted_values.size)).astype(np.int64)
    return sorted_values[starts], counts


def _counts_at(keys: FloatArray, unique: FloatArray, counts: IntArray) -> FloatArray:
    out = np.zeros(keys.size, dtype=np.float64)
    out[np.searchsorted(keys, unique)] = counts
    return out


@dataclass(frozen=True)
class NumericReference:
    """A numerical reference column prepared once: sorted values, uniques and their counts."""

    sorted_values: FloatArray
    unique: FloatArray
    counts: IntArray
    integer: bool

    @classmethod
    def build(cls, values: FloatArray, integer: bool) -> NumericReference:
        sorted_values = np.sort(values)
        unique, counts = unique_sorted(sorted_values)
        return cls(sorted_values, unique, counts, integer)

    @property
    def norm(self) -> float:
        return wasserstein_norm(float(np.std(self.sorted_values)))

    @property
    def binned(self) -> bool:
        """Whether Evidently bins this column by Sturges edges rather than by value."""
        return bool(self.unique.size > BINNED_MIN_UNIQUE)


@dataclass(frozen=True)
class NumericWindow:
    """What numerical scoring needs from the current window, however it was gathered."""

    rows: int
    wasserstein: float
    unique_values: int
    ks: tuple[float, float] | None
    bins: tuple[FloatArray, FloatArray] | None
    notes: tuple[str, ...] = ()


def window_from_values(
    reference: NumericReference, cur_values: FloatArray, cur_integer: bool, method: str
) -> NumericWindow:
    """The exact window statistics of an in-memory current sample."""
    cur_sorted = np.sort(cur_values)
    cur_unique, cur_counts = unique_sorted(cur_sorted)
    keys = np.union1d(reference.unique, cur_unique)
    resolved = (
        method
        if method != "auto"
        else auto_method("numerical", reference.sorted_values.size, keys.size)
    )
    ks = ks_sorted(reference.sorted_values, cur_sorted) if resolved == "ks" else None
    bins = None
    if resolved in ("psi", "jensenshannon") and reference.binned:
        lo = min(reference.sorted_values[0], cur_sorted[0])
        hi = max(reference.sorted_values[-1], cur_sorted[-1])
        edges = sturges_edges(
            lo,
            hi,
            reference.sorted_values.size + cur_sorted.size,
            reference.integer and cur_integer,
        )
        bins = (
            np.histogram(reference.sorted_values, edges)[0].astype(np.float64),
            np.histogram(cur_sorted, edges)[0].astype(np.float64),
        )
    elif resolved in ("psi", "jensenshannon", "chisquare", "z"):
        bins = (
            _counts_at(keys, reference.unique, reference.counts),
            _counts_at(keys, cur_unique, cur_counts),
        )
    w = wasserstein_sorted(reference.sorted_values, cur_sorted)
    return NumericWindow(cur_sorted.size, w, keys.size, ks, bins)


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


@dataclass(frozen=True)
class NumericSketch:
    """Mergeable summary of one numerical column of a window against a fixed reference.

    KS, PSI and Jensen-Shannon come out exact (PSI/JS need a second pass for ``bins``, since
    Evidently's Sturges edges depend on the whole window's min, max and size); Wasserstein is
    the documented approximation of :func:`wasserstein_from_sketch`.
    """

    at: IntArray
    gap_count: IntArray
    gap_sum: FloatArray
    lowest: float
    highest: float
    integer: bool
    small_counts: pd.Series | None
    bins: FloatArray | None = None

    @classmethod
    def of(cls, reference: NumericReference, values: FloatArray, integer: bool) -> NumericSketch:
        at, gap_count, gap_sum = sketch_counts(reference.unique, values)
        small = pd.Series(values).value_counts(sort=False) if not reference.binned else None
        lo, hi = (float(values.min()), float(values.max())) if values.size else (np.inf, -np.inf)
        return cls(at, gap_count, gap_sum, lo, hi, integer, small)

    def merge(self, other: NumericSketch) -> NumericSketch:
        small = None
        if self.small_counts is not None and other.small_counts is not None:
            small = self.small_counts.add(other.small_counts, fill_value=0)
        bins = None if self.bins is None or other.bins is None else self.bins + other.bins
        return NumericSketch(
            self.at + other.at, self.gap_count + other.gap_count, self.gap_sum + other.gap_sum,
            min(self.lowest, other.lowest), max(self.highest, other.highest),
            self.integer and other.integer, small, bins,
        )  # fmt: skip

    @property
    def rows(self) -> int:
        return int(self.at.sum() + self.gap_count.sum())

    def edges(self, reference: NumericReference) -> FloatArray:
        """Evidently's Sturges edges over reference and the whole window (known after pass 1)."""
        lo = min(float(reference.unique[0]), self.lowest)
        hi = max(float(reference.unique[-1]), self.highest)
        rows = reference.sorted_values.size + self.rows
        return sturges_edges(lo, hi, rows, reference.integer and self.integer)

    def to_window(self, reference: NumericReference, method: str) -> NumericWindow:
        """The window statistics scoring needs; ``bins`` must be filled for binned PSI/JS."""
        if self.rows == 0:
            return NumericWindow(0, float("nan"), reference.unique.size, None, None)
        w = wasserstein_from_sketch(
            reference.unique, reference.counts, self.at, self.gap_count, self.gap_sum
        )
        keys = (
            np.union1d(reference.unique, self.small_counts.index.to_numpy(np.float64))
            if self.small_counts is not None
            else None
        )
        unique_values = keys.size if keys is not None else reference.unique.size + 1
        resolved = (
            method
            if method != "auto"
            else auto_method("numerical", reference.sorted_values.size, unique_values)
        )
        ks = ks_from_sketch(reference.counts, self.at, self.gap_count) if resolved == "ks" else None
        bins = None
        if resolved in ("psi", "jensenshannon") and reference.binned and self.bins is not None:
            bins = (
                np.histogram(reference.sorted_values, self.edges(reference))[0].astype(np.float64),
                self.bins,
            )
        elif keys is not None and self.small_counts is not None:
            cur = _counts_at(
                keys,
                self.small_counts.index.to_numpy(np.float64),
                self.small_counts.to_numpy(np.int64),
            )
            bins = (_counts_at(keys, reference.unique, reference.counts), cur)
        note = "wasserstein from chunk sketches: exact unless the CDFs cross inside a reference gap"
        return NumericWindow(self.rows, w, unique_values, ks, bins, (note,))
