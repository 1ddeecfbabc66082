"""Multivariate drift: a change of the features' joint distribution that no column shows alone.

Why PCA reconstruction error rather than a domain classifier: the PCA is fitted once per
reference, a window's statistic is the mean of per-row errors (so chunks of a streamed window
just add their error sums), and calibrating the verdict needs only resampled means of held-out
reference errors. A domain classifier must be trained on every window and again on every
reference-vs-reference resample to calibrate it, hundreds of fits a run.

The encoder standardises numerical columns (missing values at the reference mean) and one-hot
encodes the ``max_categories`` most frequent values of each categorical column, so its width is
bounded. The PCA keeps the components explaining ``variance`` of the reference; a row's error is
its distance to that subspace. Half of a reference sample fits the model, the other half gives
held-out errors, which is what an unchanged window's rows look like. The verdict's null is the
mean of reference-error resamples of the window's effective size (``nulls.gamma_tail``, as
distance methods are calibrated), cached per reference content and window size.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from monitoring_lib.metrics.drift.nulls import gamma_quantile, gamma_tail
from monitoring_lib.metrics.drift.stattests import FloatArray
from monitoring_lib.metrics.exact_sums import from_grid, grid_sum
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.signals import MultivariateSettings

ERROR = Metric.MULTIVARIATE_ERROR
DRIFT = Metric.MULTIVARIATE_DRIFT
NULL_MAX_ROWS = 20_000
"""Largest resample of the null; bigger windows shrink its spread by the sqrt(n) law."""
SLICE_ROWS = 20_000
"""Rows encoded at once: the encoded copies of a chunk stay small whatever its size."""


@dataclass(frozen=True, eq=False)
class ReconstructionModel:
    """Encoder and principal subspace fitted on the reference, with held-out reference errors."""

    key: str
    """Reference content hash and settings: names the model in caches."""
    numerical: tuple[str, ...]
    numeric_center: FloatArray
    numeric_scale: FloatArray
    categories: tuple[tuple[str, tuple[str, ...]], ...]
    """Per categorical column, the values that get their own one-hot column."""
    onehot_center: FloatArray
    onehot_scale: FloatArray
    mean: FloatArray
    components: FloatArray
    explained: float
    holdout_errors: FloatArray

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReconstructionModel) and other.key == self.key

    @property
    def columns(self) -> list[str]:
        return [*self.numerical, *(name for name, _ in self.categories)]

    def encode(self, frame: pd.DataFrame) -> FloatArray:
        """Rows as standardised vectors: numerical columns, then one-hot categories."""
        parts: list[FloatArray] = []
        if self.numerical:
            values = frame[list(self.numerical)].apply(pd.to_numeric, errors="coerce")
            raw = values.to_numpy(np.float64)
            raw = np.where(np.isfinite(raw), raw, self.numeric_center)
            parts.append((raw - self.numeric_center) / self.numeric_scale)
        onehot = [_onehot(frame[name], kept) for name, kept in self.categories]
        if onehot:
            parts.append((np.hstack(onehot) - self.onehot_center) / self.onehot_scale)
        return np.hstack(parts) if parts else np.zeros((len(frame), 0))

    def errors(self, frame: pd.DataFrame) -> FloatArray:
        """Each row's distance to the reference's principal subspace: with orthonormal
        components, |x|^2 - |projection|^2, one product instead of projecting and rebuilding."""
        centred = self.encode(frame) - self.mean
        projected = centred @ self.components.T
        squared = np.einsum("ij,ij->i", centred, centred) - np.einsum(
            "ij,ij->i", projected, projected
        )
        return np.asarray(np.sqrt(np.maximum(squared, 0.0)), dtype=np.float64)


def _onehot(series: pd.Series, kept: Sequence[str]) -> FloatArray:
    """One column per kept value (values outside ``kept`` are all zeros), by hashed codes: a
    comparison of every row with every kept value as Python objects took most of the stage on
    million-row windows."""
    text = series.astype("string").fillna("\x00missing")
    codes = pd.Categorical(text, categories=list(kept)).codes
    encoded = np.zeros((len(series), len(kept)), dtype=np.float64)
    present = np.flatnonzero(codes >= 0)
    encoded[present, codes[present]] = 1.0
    return encoded


def _scale(values: FloatArray) -> FloatArray:
    std = np.nan_to_num(np.nanstd(values, axis=0))
    return np.asarray(np.where(std > 1e-12, std, 1.0), dtype=np.float64)


def fit_model(
    reference: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    settings: MultivariateSettings,
    *,
    seed: int = 0,
    key: str = "",
) -> ReconstructionModel | str:
    """The model fitted on a seeded sample of the reference, or why it cannot be fitted."""
    absent = [c for c in [*numerical, *categorical] if c not in reference.columns]
    if absent:
        return f"the reference has no column {', '.join(map(repr, absent))}"
    rng = np.random.default_rng(seed)
    rows = min(len(reference), settings.fit_max_rows)
    if rows < 2 * settings.min_rows:
        return f"the reference has {len(reference)} rows; {2 * settings.min_rows} needed"
    order = rng.permutation(len(reference))[:rows]
    fit_part = reference.iloc[order[: rows // 2]]
    holdout = reference.iloc[order[rows // 2 :]]
    numeric = fit_part[list(numerical)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    numeric[~np.isfinite(numeric)] = np.nan
    with warnings.catch_warnings(action="ignore", category=RuntimeWarning):  # all-missing columns
        center = np.nan_to_num(np.nanmean(numeric, axis=0)) if numerical else np.zeros(0)
        scale = _scale(numeric) if numerical else np.ones(0)
    categories = tuple(
        (name, tuple(_top_values(fit_part[name], settings.max_categories))) for name in categorical
    )
    draft = ReconstructionModel(
        key, tuple(numerical), center, scale, categories,
        np.zeros(0), np.ones(0), np.zeros(0), np.zeros((0, 0)), 0.0, np.zeros(0),
    )  # fmt: skip
    onehot = [_onehot(fit_part[name], kept) for name, kept in categories]
    if onehot:
        stacked = np.hstack(onehot)
        draft = _replace(draft, onehot_center=stacked.mean(axis=0), onehot_scale=_scale(stacked))
    encoded = draft.encode(fit_part)
    if encoded.shape[1] < 2:
        return "multivariate drift needs at least two encoded feature columns"
    pca = PCA(n_components=settings.variance, svd_solver="full").fit(encoded)
    fitted = _replace(
        draft,
        mean=pca.mean_,
        components=pca.components_,
        explained=float(pca.explained_variance_ratio_.sum()),
    )
    return _replace(fitted, holdout_errors=fitted.errors(holdout))


def _replace(model: ReconstructionModel, **changes: Any) -> ReconstructionModel:
    return ReconstructionModel(**{**model.__dict__, **changes})


def _top_values(series: pd.Series, limit: int) -> list[str]:
    counts = series.astype("string").fillna("\x00missing").value_counts(sort=True)
    return [str(v) for v in counts.index[:limit]]


# --- verdict ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def null_means(model: ReconstructionModel, rows: int, resamples: int, seed: int) -> FloatArray:
    """Mean held-out error of ``resamples`` reference draws of ``rows`` rows (the window's
    effective size), around the held-out mean; cached per reference model and window size."""
    errors = model.holdout_errors
    drawn = min(rows, NULL_MAX_ROWS)
    rng = np.random.default_rng(seed)
    means = np.stack([rng.choice(errors, size=drawn).mean() for _ in range(resamples)])
    centre = float(errors.mean())
    null = np.asarray(centre + (means - centre) * np.sqrt(drawn / rows), dtype=np.float64)
    null.setflags(write=False)
    return null


def effective_rows(window_rows: int, reference_rows: int) -> int:
    """Rows whose mean varies as the difference of the window's and the reference's means do."""
    return max(1, round(window_rows * reference_rows / (window_rows + reference_rows)))


ERROR_BITS, ERROR_LIMIT = 24, 1e6
"""Grid of the error sum (``exact_sums``): steps of 6e-8, rows' errors clipped at 1e6."""


@dataclass
class ErrorSum:
    """The window's error sum and row count, added chunk by chunk (the same however split)."""

    units: int = 0
    rows: int = 0

    def add(self, errors: FloatArray) -> None:
        self.units += grid_sum(errors, ERROR_BITS, ERROR_LIMIT)
        self.rows += int(errors.size)

    @property
    def total(self) -> float:
        return from_grid(self.units, ERROR_BITS)


def window_errors(model: ReconstructionModel, chunks: Iterable[pd.DataFrame]) -> ErrorSum | str:
    """The window's error sum over every chunk, or which columns a chunk lacks."""
    found = ErrorSum()
    for chunk in chunks:
        absent = [c for c in model.columns if c not in chunk.columns]
        if absent:
            return f"the current window has no column {', '.join(map(repr, absent))}"
        for start in range(0, len(chunk), SLICE_ROWS):
            found.add(model.errors(chunk.iloc[start : start + SLICE_ROWS]))
    return found


def multivariate_records(
    model: ReconstructionModel | str,
    found: ErrorSum | str,
    settings: MultivariateSettings,
    seed: int,
) -> list[MetricRecord]:
    """``multivariate.reconstruction_error`` and ``multivariate.drift`` with one status."""
    if isinstance(model, str) or isinstance(found, str):
        reason = model if isinstance(model, str) else str(found)
        status = MetricStatus.ERROR if "no column" in reason else MetricStatus.INSUFFICIENT_DATA
        return _missing(status, reason)
    if found.rows < settings.min_rows:
        reason = f"{found.rows} window rows; multivariate drift needs {settings.min_rows}"
        return _missing(MetricStatus.INSUFFICIENT_DATA, reason)
    observed = found.total / found.rows
    reference_error = float(model.holdout_errors.mean())
    rows = effective_rows(found.rows, model.holdout_errors.size)
    null = null_means(model, rows, settings.resamples, seed)
    p_value = gamma_tail(null, observed)
    threshold = max(
        gamma_quantile(null, settings.alpha), reference_error * (1 + settings.effect_floor)
    )
    ratio = observed / reference_error if reference_error > 0 else float("inf")
    drifted = p_value <= settings.alpha and ratio - 1 >= settings.effect_floor
    status = MetricStatus.DRIFT if drifted else MetricStatus.OK
    details = {
        "method": "pca_reconstruction",
        "reference_error": reference_error,
        "error_ratio": ratio,
        "threshold": threshold,
        "p_value": p_value,
        "alpha": settings.alpha,
        "effect_floor": settings.effect_floor,
        "components": int(model.components.shape[0]),
        "encoded_columns": int(model.components.shape[1]),
        "explained_variance": model.explained,
        "window_rows": found.rows,
        "null_rows": rows,
    }
    return [
        MetricRecord(ERROR, observed, status, details=details),
        MetricRecord(DRIFT, 1.0 if drifted else 0.0, status, details=details),
    ]


def _missing(status: MetricStatus, reason: str) -> list[MetricRecord]:
    return [MetricRecord(m, None, status, details={"reason": reason}) for m in (ERROR, DRIFT)]


# --- cache: one fitted model per reference content -------------------------------------------


def model_key(
    content_hash: str, numerical: Sequence[str], categorical: Sequence[str],
    settings: MultivariateSettings, seed: int,
) -> str:  # fmt: skip
    """The reference's content plus everything the fit depends on."""
    fit = settings.model_dump(include={"variance", "max_categories", "fit_max_rows", "min_rows"})
    meaning = json.dumps([list(numerical), list(categorical), fit, seed])
    return f"{content_hash}-{hashlib.sha256(meaning.encode()).hexdigest()[:12]}"


def _to_json(model: ReconstructionModel) -> dict[str, Any]:
    plain = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in model.__dict__.items()}
    return {"version": 1, **plain}


def _from_json(data: dict[str, Any]) -> ReconstructionModel:
    if data.get("version") != 1:
        raise ValueError(f"unknown multivariate model version {data.get('version')!r}")
    arrays = ("numeric_center", "numeric_scale", "onehot_center", "onehot_scale", "mean",
              "holdout_errors")  # fmt: skip
    fields = {k: np.asarray(data[k], dtype=np.float64) for k in arrays}
    components = np.asarray(data["components"], dtype=np.float64).reshape(
        -1, len(data["mean"]) or 0
    )
    return ReconstructionModel(
        key=data["key"], numerical=tuple(data["numerical"]),
        categories=tuple((name, tuple(kept)) for name, kept in data["categories"]),
        components=components, explained=float(data["explained"]), **fields,
    )  # fmt: skip


def cached_model(
    reference: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    settings: MultivariateSettings,
    *,
    cache_dir: Path,
    content_hash: str,
    seed: int = 0,
) -> ReconstructionModel | str:
    """The reference's model, fitted once per reference content and read back after."""
    key = model_key(content_hash, numerical, categorical, settings, seed)
    path = cache_dir / f"multivariate-{key}.json"
    if path.is_file():
        try:
            return _from_json(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError):
            pass
    fitted = fit_model(reference, numerical, categorical, settings, seed=seed, key=key)
    if isinstance(fitted, ReconstructionModel):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(_to_json(fitted), out)
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)
    return fitted
