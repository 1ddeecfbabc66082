"""Null distributions for calibrated verdicts: what a distance looks like on unchanged data.

Distances (Wasserstein, PSI, Jensen-Shannon) have no p-value of their own; reference-vs-reference
resamples of the window's size give one, through a moment-matched gamma fit of their tail."""

from __future__ import annotations

import functools

import numpy as np
from scipy import stats

from monitoring_lib.metrics.drift.stattests import (
    FloatArray,
    IntArray,
    jensenshannon,
    psi,
)


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
