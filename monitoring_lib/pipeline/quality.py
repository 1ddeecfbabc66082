"""A window's quality as the monitor stores it: realised from the labels known so far, estimated
from calibrated probabilities before labels arrive, and the counts behind both, which the store
keeps so that rules can pool windows.

Estimation (``metrics.quality.estimation``) needs the reference's own probabilities and labels:
the calibration is fitted on them once per reference content and cached beside the reference's
profile. Regression quality is not estimated (``REGRESSION_NOT_ESTIMATED``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitoring_lib.metrics.quality.counts import (
    EXPECTED,
    REALISED,
    QualityCounts,
    label_strings,
)
from monitoring_lib.metrics.quality.estimation import (
    Calibration,
    calibration_from_json,
    calibration_to_json,
    expected_counts,
    fit_calibration,
)
from monitoring_lib.metrics.quality.values import quality_values
from monitoring_lib.metrics.quality.window import window_quality
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.base import Task
from monitoring_lib.spec.monitor import MonitorSpec

ESTIMATED_METRICS = (
    Metric.ESTIMATED_ACCURACY,
    Metric.ESTIMATED_PRECISION,
    Metric.ESTIMATED_RECALL,
    Metric.ESTIMATED_F1,
    Metric.ESTIMATED_ROC_AUC,
)
MIN_ROWS = 30
"""Fewest rows a window's (or a reference's) quality is computed on, as for realised quality."""
POSITIVE = "1"
"""The positive class of a binary model, as realised quality takes it (``pos_label=1``)."""


__all__ = ["EXPECTED", "REALISED", "QualityOutcome", "estimated_quality", "realised_quality"]


@dataclass(frozen=True)
class QualityOutcome:
    records: list[MetricRecord] = field(default_factory=list)
    counts: dict[str, QualityCounts] = field(default_factory=dict)
    """Counts by kind (``REALISED``, ``EXPECTED``)."""

    def plus(self, other: QualityOutcome) -> QualityOutcome:
        return QualityOutcome([*self.records, *other.records], {**self.counts, **other.counts})


def realised_quality(spec: MonitorSpec, frame: pd.DataFrame) -> QualityOutcome:
    """Quality of the window's labelled rows, each value with its interval, and their counts."""
    columns = spec.columns
    if columns.target is None or columns.prediction is None:
        return QualityOutcome()
    probability = columns.probability if spec.task is not Task.REGRESSION else None
    result = window_quality(
        frame,
        task=spec.task,
        target=columns.target,
        prediction=columns.prediction,
        probability=probability,
    )
    counts = {REALISED: result.counts} if result.counts is not None else {}
    return QualityOutcome(result.records, counts)


def estimates_apply(spec: MonitorSpec) -> bool:
    """Classification with a prediction and probabilities: what estimation needs of a window."""
    columns = spec.columns
    return spec.task is not Task.REGRESSION and bool(columns.prediction and columns.probability)


def _score_columns(spec: MonitorSpec) -> dict[str, str]:
    probability = spec.columns.probability
    if isinstance(probability, str):
        return {POSITIVE: probability}
    return {label_strings([k])[0]: v for k, v in (probability or {}).items()}


def _scores(spec: MonitorSpec, frame: pd.DataFrame) -> Any:
    columns = _score_columns(spec)
    if spec.task is Task.BINARY:
        return frame[columns[POSITIVE]].to_numpy(np.float64)
    return {label: frame[column].to_numpy(np.float64) for label, column in columns.items()}


def _scored_rows(spec: MonitorSpec, frame: pd.DataFrame, extra: list[str]) -> pd.DataFrame | str:
    """Rows with every needed column usable (probabilities finite and in [0, 1]), or why none."""
    needed = [*extra, *_score_columns(spec).values()]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        return f"no column {', '.join(map(repr, absent))}"
    probabilities = frame[list(_score_columns(spec).values())].apply(pd.to_numeric, errors="coerce")
    usable = probabilities.notna().all(axis=1) & ((probabilities >= 0) & (probabilities <= 1)).all(
        axis=1
    )
    usable &= frame[extra].notna().all(axis=1)
    return frame.loc[usable].assign(**{c: probabilities[c] for c in probabilities.columns})


def _unavailable(status: MetricStatus, reason: str) -> QualityOutcome:
    return QualityOutcome(
        [MetricRecord(m, None, status, details={"reason": reason}) for m in ESTIMATED_METRICS]
    )


def estimated_quality(
    spec: MonitorSpec, frame: pd.DataFrame, calibration: Calibration | str
) -> QualityOutcome:
    """``estimated.*`` over every scored row of the window, labelled or not (expected counts)."""
    if isinstance(calibration, str):
        return _unavailable(MetricStatus.SKIPPED, calibration)
    prediction = spec.columns.prediction or ""
    rows = _scored_rows(spec, frame, [prediction])
    if isinstance(rows, str):
        return _unavailable(MetricStatus.ERROR, f"window frame has {rows}")
    if len(rows) < MIN_ROWS:
        reason = (
            f"{len(rows)} rows with a prediction and probabilities; estimation needs {MIN_ROWS}"
        )
        return _unavailable(MetricStatus.INSUFFICIENT_DATA, reason)
    counts = expected_counts(rows[prediction].to_numpy(), _scores(spec, rows), calibration)
    methods = {m.label: m.method for m in calibration.maps}
    records = [
        value.record(rows=len(rows), window_rows=len(frame), calibration=methods)
        for value in quality_values(counts)
    ]
    return QualityOutcome(records, {EXPECTED: counts})


def fit_reference_calibration(spec: MonitorSpec, reference: pd.DataFrame) -> Calibration | str:
    """The calibration of the reference's probabilities against its labels, or why there is none."""
    target = spec.columns.target
    if target is None:
        return "columns.target is not set, so the reference has no labels to calibrate on"
    rows = _scored_rows(spec, reference, [target])
    if isinstance(rows, str):
        return f"the reference has {rows}: calibration needs its labels and probabilities"
    if len(rows) < MIN_ROWS:
        return f"the reference has {len(rows)} labelled rows with probabilities; {MIN_ROWS} needed"
    positive = POSITIVE if spec.task is Task.BINARY else None
    try:
        return fit_calibration(rows[target].to_numpy(), _scores(spec, rows), positive=positive)
    except ValueError as error:
        return f"the reference's probabilities cannot be calibrated: {error}"


def _cache_path(spec: MonitorSpec, cache_dir: Path, content_hash: str) -> Path:
    """Keyed by the reference's content and by what the spec says its columns mean."""
    meaning = json.dumps([spec.task.value, spec.columns.target, _score_columns(spec)])
    key = hashlib.sha256(meaning.encode()).hexdigest()[:12]
    return cache_dir / f"calibration-{content_hash}-{key}.json"


def reference_calibration(
    spec: MonitorSpec,
    reference: Callable[[], pd.DataFrame],
    cache_dir: Path,
    content_hash: str,
) -> Calibration | str:
    """The reference's calibration, fitted once per reference content and then read back.

    ``reference`` is called only on a miss; a cached file that cannot be read is refitted.
    """
    path = _cache_path(spec, cache_dir, content_hash)
    if path.is_file():
        try:
            return calibration_from_json(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError, IndexError):
            pass
    fitted = fit_reference_calibration(spec, reference())
    if isinstance(fitted, Calibration):
        _write_atomically(path, json.dumps(calibration_to_json(fitted)))
    return fitted


def _write_atomically(path: Path, text: str) -> None:
    """Temp file and rename, so a concurrent run never reads half a calibration."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
