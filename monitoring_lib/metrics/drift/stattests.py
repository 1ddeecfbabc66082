"""The statistical tests and distances, equal to Evidently's stattests, in vectorised NumPy/SciPy.

Evidently's DataDriftPreset needs ~10 minutes and ~9 GB for 1M x 100 rows, so the verdicts
driftwise stores come from these functions; each one reproduces a file of Evidently 0.7.23's
``evidently/legacy/calculations/stattests`` (same binning, same zero filling, same SciPy
calls), so the scores equal Evidently's own to floating-point rounding.

Numerical inputs are float64 arrays with NaN and +-inf already dropped, as Evidently drops them.
Categorical inputs are per-category count vectors aligned over the union of categories seen in
either sample, which is what makes categorical tests mergeable across chunks.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.spatial import distance
from scipy.stats._stats_py import _attempt_exact_2kssamp  # no public D -> p-value API

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


def ks_statistic(cdf_diffs: FloatArray) -> float:
    max_s = float(np.max(cdf_diffs))
    min_s = float(np.clip(-np.min(cdf_diffs), 0.0, 1.0))
    return min_s if min_s > max_s else max_s


def ks_sorted(ref_sorted: FloatArray, cur_sorted: FloatArray) -> tuple[float, float]:
    """Two-sample KS (statistic, p-value) of sorted samples, as ks_stattest.py computes it."""
    all_values = np.concatenate([ref_sorted, cur_sorted])
    cdf_ref = np.searchsorted(ref_sorted, all_values, side="right") / ref_sorted.size
    cdf_cur = np.searchsorted(cur_sorted, all_values, side="right") / cur_sorted.size
    return ks_p_value(ks_statistic(cdf_ref - cdf_cur), ref_sorted.size, cur_sorted.size)


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


def contingency_p_value(ref_bins: FloatArray, cur_bins: FloatArray) -> float | None:
    """Two-sample chi-square p-value, which counts the reference's own sampling noise."""
    if ref_bins.size < 2:
        return None
    return float(stats.chi2_contingency(np.vstack([ref_bins, cur_bins]), correction=False).pvalue)
