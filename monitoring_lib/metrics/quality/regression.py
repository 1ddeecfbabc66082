"""Mergeable sufficient statistics of a regression window, and its metrics with intervals.

RMSE, MAE, MAPE and R2 of any pool of windows follow exactly from power sums of the errors and
of the centred targets; so do the moments their intervals need (central limit theorem, and the
delta method for RMSE and R2). Definitions as ``monitoring_lib.quality`` stores them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from monitoring_lib.metrics.quality.intervals import QualityValue, missing, wald, z_value
from monitoring_lib.records import DATASET, Metric

_EPS = float(np.finfo(np.float64).eps)
"""quality.py's tolerance for 'the target is 0', where MAPE is undefined."""


@dataclass(frozen=True, slots=True)
class RegressionCounts:
    """Power sums of a window's errors (prediction - target) and centred targets.

    ``center`` is subtracted from targets before powers are summed, so that R2's moments keep
    their precision for targets far from 0; merging re-centres exactly (binomial expansion).
    """

    rows: int
    center: float
    error_sum: float
    error_sq_sum: float
    error_abs_sum: float
    error_4_sum: float
    target_sums: tuple[float, float, float, float]
    """Sums of d, d^2, d^3, d^4 with d = target - center."""
    error_sq_target_sums: tuple[float, float]
    """Sums of e^2 d and e^2 d^2 (the covariance of squared errors and target spread, for R2)."""
    zero_targets: int
    """Rows whose target is 0, where MAPE is undefined (quality.py then skips MAPE)."""
    ape_sum: float
    """Sum of |e| / |target| over rows with a non-zero target."""
    ape_sq_sum: float


def regression_counts(truth: npt.ArrayLike, predicted: npt.ArrayLike) -> RegressionCounts:
    """Counts of labelled rows with finite target and prediction."""
    target = np.asarray(truth, dtype=np.float64)
    prediction = np.asarray(predicted, dtype=np.float64)
    if target.shape != prediction.shape or target.ndim != 1:
        raise ValueError("truth and predicted must be 1-D with one value per row")
    if not (np.isfinite(target).all() and np.isfinite(prediction).all()):
        raise ValueError("targets and predictions must be finite")
    error = prediction - target
    center = float(target.mean()) if target.size else 0.0
    d = target - center
    sq = error**2
    nonzero = np.abs(target) > _EPS
    ape = np.abs(error[nonzero]) / np.abs(target[nonzero])
    return RegressionCounts(
        rows=int(target.size),
        center=center,
        error_sum=float(error.sum()),
        error_sq_sum=float(sq.sum()),
        error_abs_sum=float(np.abs(error).sum()),
        error_4_sum=float((sq**2).sum()),
        target_sums=(
            float(d.sum()),
            float((d**2).sum()),
            float((d**3).sum()),
            float((d**4).sum()),
        ),
        error_sq_target_sums=(float((sq * d).sum()), float((sq * d**2).sum())),
        zero_targets=int((~nonzero).sum()),
        ape_sum=float(ape.sum()),
        ape_sq_sum=float((ape**2).sum()),
    )


def _recentre(sums: Sequence[float], rows: float, shift: float) -> list[float]:
    """Power sums of d (orders 1..len) rewritten for d + shift: sum_j C(k,j) shift^(k-j) S_j."""
    full = [rows, *sums]
    return [
        sum(math.comb(k, j) * shift ** (k - j) * full[j] for j in range(k + 1))
        for k in range(1, len(full))
    ]


def merge_regression(a: RegressionCounts, b: RegressionCounts) -> RegressionCounts:
    shift = b.center - a.center  # b's d plus shift is d about a's center
    target = _recentre(b.target_sums, b.rows, shift)
    e2d = _recentre(b.error_sq_target_sums, b.error_sq_sum, shift)
    return RegressionCounts(
        rows=a.rows + b.rows,
        center=a.center,
        error_sum=a.error_sum + b.error_sum,
        error_sq_sum=a.error_sq_sum + b.error_sq_sum,
        error_abs_sum=a.error_abs_sum + b.error_abs_sum,
        error_4_sum=a.error_4_sum + b.error_4_sum,
        target_sums=(
            a.target_sums[0] + target[0],
            a.target_sums[1] + target[1],
            a.target_sums[2] + target[2],
            a.target_sums[3] + target[3],
        ),
        error_sq_target_sums=(
            a.error_sq_target_sums[0] + e2d[0],
            a.error_sq_target_sums[1] + e2d[1],
        ),
        zero_targets=a.zero_targets + b.zero_targets,
        ape_sum=a.ape_sum + b.ape_sum,
        ape_sq_sum=a.ape_sq_sum + b.ape_sq_sum,
    )


def regression_to_json(counts: RegressionCounts) -> dict[str, Any]:
    return {"kind": "regression", "version": 1, **asdict(counts)}


def regression_from_json(data: Mapping[str, Any]) -> RegressionCounts:
    fields = {k: v for k, v in data.items() if k not in ("kind", "version")}
    fields["target_sums"] = tuple(fields["target_sums"])
    fields["error_sq_target_sums"] = tuple(fields["error_sq_target_sums"])
    return RegressionCounts(**fields)


def _regression_moments(c: RegressionCounts) -> tuple[float, float, float, float]:
    """Variance of e^2, of (y - mean)^2, their covariance, and the variance of y."""
    n = c.rows
    s1, s2, s3, s4 = c.target_sums
    mean = s1 / n
    spread = s2 / n - mean**2
    fourth = s4 / n - 4 * mean * s3 / n + 6 * mean**2 * s2 / n - 3 * mean**4
    e2d, e2d2 = c.error_sq_target_sums
    mse = c.error_sq_sum / n
    cross = (e2d2 - 2 * mean * e2d + mean**2 * c.error_sq_sum) / n
    return c.error_4_sum / n - mse**2, fourth - spread**2, cross - mse * spread, spread


def _r2(c: RegressionCounts, level: float) -> QualityValue:
    """1 - SSE / SST, with the delta method on the means of e^2 and (y - mean)^2."""
    var_u, var_v, cov, spread = _regression_moments(c)
    scale = (
        64
        * float(np.finfo(np.float64).eps)
        * max(abs(c.center) + abs(c.target_sums[0] / c.rows), 1e-300)
    )
    if spread <= scale**2:
        return missing(
            Metric.R2,
            DATASET,
            level,
            "labelled targets are constant, so R2 is undefined (zero variance)",
        )
    mse = c.error_sq_sum / c.rows
    variance = (var_u / spread**2 - 2 * mse * cov / spread**3 + mse**2 * var_v / spread**4) / c.rows
    return wald(Metric.R2, DATASET, 1 - mse / spread, math.sqrt(max(variance, 0.0)), c.rows, level)


def _rmse(c: RegressionCounts, level: float) -> QualityValue:
    """RMSE's interval is the square root of MSE's (CLT), so it never goes below 0."""
    n, z = c.rows, z_value(level)
    mse = c.error_sq_sum / n
    se_mse = math.sqrt(max(c.error_4_sum / n - mse**2, 0.0) / (n - 1))
    rmse = math.sqrt(mse)
    se = se_mse / (2 * rmse) if rmse > 0 else 0.0
    lower, upper = math.sqrt(max(mse - z * se_mse, 0.0)), math.sqrt(mse + z * se_mse)
    return QualityValue(Metric.RMSE, DATASET, rmse, se, lower, upper, n, "clt", level)


def _mean_value(
    metric: Metric, total: float, total_sq: float, rows: int, scale: float, level: float
) -> QualityValue:
    mean = total / rows
    se = math.sqrt(max(total_sq / rows - mean**2, 0.0) / (rows - 1))
    return wald(metric, DATASET, scale * mean, scale * se, rows, level)


def regression_values(counts: RegressionCounts, *, level: float = 0.95) -> tuple[QualityValue, ...]:
    """RMSE, MAE, MAPE (percent) and R2, as quality.py stores them."""
    c = counts
    if c.rows < 2:
        metrics = (Metric.RMSE, Metric.MAE, Metric.MAPE, Metric.R2)
        return tuple(
            missing(m, DATASET, level, f"{c.rows} rows; regression quality needs 2")
            for m in metrics
        )
    mae = _mean_value(Metric.MAE, c.error_abs_sum, c.error_sq_sum, c.rows, 1.0, level)
    if c.zero_targets:
        why = f"{c.zero_targets} labelled rows have target 0, where MAPE is undefined"
        mape = missing(Metric.MAPE, DATASET, level, why)
    else:
        mape = _mean_value(Metric.MAPE, c.ape_sum, c.ape_sq_sum, c.rows, 100.0, level)
    return (_rmse(c, level), mae, mape, _r2(c, level))
