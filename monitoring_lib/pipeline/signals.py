"""The stages of the signals beyond per-column drift: multivariate drift and prediction
confidence. Both read the window as chunks of the columns they need (one chunk in memory, the
run's chunks when streamed) and the reference as gathered, so both paths store the same values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from monitoring_lib.metrics import confidence, multivariate
from monitoring_lib.metrics.quality.counts import label_strings
from monitoring_lib.records import MetricRecord
from monitoring_lib.spec.base import Task
from monitoring_lib.spec.monitor import MonitorSpec

if TYPE_CHECKING:
    from monitoring_lib.pipeline.stages import Gathered


def _chunks(gathered: Gathered, names: Sequence[str]) -> Iterable[pd.DataFrame]:
    if gathered.window_columns is not None:
        return gathered.window_columns(list(names))
    return [gathered.schema_frame]


def multivariate_stage(spec: MonitorSpec, gathered: Gathered) -> list[MetricRecord]:
    """``multivariate.*`` of the window against the model fitted on the reference (cached)."""
    settings, columns = spec.multivariate, spec.columns
    if not settings.enabled:
        return []
    model = multivariate.cached_model(
        gathered.reference_frame, columns.numerical, columns.categorical, settings,
        cache_dir=gathered.reference.path.parent, content_hash=gathered.reference.content_hash,
        seed=spec.drift.seed,
    )  # fmt: skip
    found = (
        model
        if isinstance(model, str)
        else multivariate.window_errors(model, _chunks(gathered, model.columns))
    )
    return multivariate.multivariate_records(model, found, settings, spec.drift.seed)


def _probability_columns(spec: MonitorSpec) -> dict[str, str]:
    probability = spec.columns.probability
    if isinstance(probability, str):
        return {confidence.POSITIVE: probability}
    return {label_strings([k])[0]: v for k, v in (probability or {}).items()}


def confidence_stage(spec: MonitorSpec, gathered: Gathered) -> list[MetricRecord]:
    """``prediction.*`` confidence records of a classifier (none for regression)."""
    if spec.task is Task.REGRESSION:
        return []
    prediction, probabilities = spec.columns.prediction, _probability_columns(spec)
    binary = spec.task is Task.BINARY
    names = [*([prediction] if prediction else []), *probabilities.values()]

    def count(chunks: Iterable[pd.DataFrame]) -> confidence.ConfidenceCounts | str:
        return confidence.count_chunks(
            chunks, prediction, probabilities, spec.confidence, binary=binary
        )

    window = count(_chunks(gathered, names))
    reference = count([gathered.reference_frame])
    return confidence.confidence_records(window, reference, spec.confidence, binary=binary)
