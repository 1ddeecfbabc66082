"""Per-column drift of a window against a reference, as MetricRecords.

Scores come from :mod:`monitoring_lib.metrics.drift.stattests` (equal to Evidently's stattests, far
faster); Evidently itself only draws the HTML report. Two verdict modes:

* ``evidently``: Evidently's plain rule (p-value below / distance above the method threshold).
* ``calibrated`` (default): quiet on unchanged data. Distances get a null distribution from
  reference-vs-reference resamples of the window's effective size (deterministic seed) and so a
  tail probability; all of a window's p-values are Benjamini-Hochberg adjusted together; and a
  column is flagged only if, in addition, its effect size (normed Wasserstein for numerical
  columns, Jensen-Shannon distance for categorical ones) reaches a floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from monitoring_lib.metrics.drift.scoring import (
    ColumnProblem,
    ColumnScore,
    ScoringOptions,
    clean_numeric,
    score_categorical_counts,
    score_numeric,
    too_few,
    value_counts,
)
from monitoring_lib.metrics.drift.sketches import NumericReference, window_from_values
from monitoring_lib.metrics.drift.stattests import (
    DISTANCE_METHODS,
    P_VALUE_METHODS,
    Kind,
    benjamini_hochberg,
)
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus, segment_key
from monitoring_lib.spec.drift import DriftSettings

Role = Literal["feature", "prediction", "target"]
ROLE_METRIC = {
    "feature": Metric.DRIFT_SCORE,
    "prediction": Metric.PREDICTION_DRIFT,
    "target": Metric.TARGET_DRIFT,
}


@dataclass(frozen=True)
class ColumnSpec:
    """A column to test: its name, type and role in the window."""

    name: str
    kind: Kind
    role: Role


def column_specs(
    frame: pd.DataFrame,
    numerical: Sequence[str],
    categorical: Sequence[str],
    prediction: str | None,
    target: str | None,
) -> list[ColumnSpec]:
    """Features as declared; prediction/target typed numerical when their dtype is numeric."""
    specs = [ColumnSpec(c, "numerical", "feature") for c in numerical]
    specs += [ColumnSpec(c, "categorical", "feature") for c in categorical]
    for name, role in ((prediction, "prediction"), (target, "target")):
        if name is not None:
            numeric = name in frame and pd.api.types.is_numeric_dtype(frame[name].dtype)
            kind: Kind = "numerical" if numeric and frame[name].dtype != bool else "categorical"
            specs.append(ColumnSpec(name, kind, role))  # type: ignore[arg-type]
    return specs


def scoring_options(settings: DriftSettings) -> ScoringOptions:
    """The part of the settings that column scoring uses."""
    return ScoringOptions(
        min_rows=settings.min_rows,
        calibrate=settings.mode == "calibrated",
        resamples=settings.calibration_resamples,
        max_rows=settings.calibration_max_rows,
        grid=settings.calibration_grid,
        seed=settings.seed,
    )


def missing_column(frame: pd.DataFrame, name: str, side: str) -> ColumnProblem | None:
    if name in frame.columns:
        return None
    return ColumnProblem(MetricStatus.ERROR, f"column {name!r} is missing from the {side}")


def category_counts(series: pd.Series, side: str) -> pd.Series | ColumnProblem:
    """Value counts of a categorical column, or an ERROR for values that cannot be counted."""
    try:
        counts = value_counts(series)
        if counts.index.is_unique:  # hashing happens here for object values
            return counts
        return ColumnProblem(
            MetricStatus.ERROR, f"the {side} holds values that compare unequal to themselves"
        )
    except TypeError as exc:
        return ColumnProblem(
            MetricStatus.ERROR, f"the {side} holds values that cannot be counted: {exc}"
        )


def score_in_memory(
    reference: pd.DataFrame, current: pd.DataFrame, spec: ColumnSpec, settings: DriftSettings
) -> ColumnScore | ColumnProblem:
    problem = missing_column(reference, spec.name, "reference") or missing_column(
        current, spec.name, "current window"
    )
    if problem:
        return problem
    method, threshold = settings.method_for(spec.name), settings.threshold_for(spec.name)
    options = scoring_options(settings)
    if spec.kind == "categorical":
        ref_counts = category_counts(reference[spec.name], "reference")
        cur_counts = category_counts(current[spec.name], "current window")
        if isinstance(ref_counts, ColumnProblem):
            return ref_counts
        if isinstance(cur_counts, ColumnProblem):
            return cur_counts
        return score_categorical_counts(ref_counts, cur_counts, method, threshold, options)
    ref = clean_numeric(reference[spec.name], "reference")
    cur = clean_numeric(current[spec.name], "current window")
    if isinstance(ref, ColumnProblem):
        return ref
    if isinstance(cur, ColumnProblem):
        return cur
    if min(ref[0].size, cur[0].size) < options.min_rows:
        return too_few(ref[0].size, cur[0].size, options)
    prepared = NumericReference.build(*ref)
    window = window_from_values(prepared, cur[0], cur[1], method)
    return score_numeric(prepared, window, method, threshold, options)


def _decide(
    scores: list[ColumnScore], settings: DriftSettings
) -> list[tuple[bool, dict[str, object]]]:
    """Verdict and verdict details of each score; calibrated mode adjusts all p-values together."""
    p_values = np.array([s.p_value for s in scores], dtype=np.float64)
    adjusted = benjamini_hochberg(p_values)
    family = max(len(scores), 1)
    out: list[tuple[bool, dict[str, object]]] = []
    for score, q in zip(scores, adjusted, strict=True):
        if settings.mode == "evidently":
            out.append((score.evidently_drift, {}))
            continue
        floor = (
            settings.effect_floor_numerical
            if score.kind == "numerical"
            else settings.effect_floor_categorical
        )
        alpha = settings.fdr_alpha
        if score.method in P_VALUE_METHODS and score.configured_threshold is not None:
            alpha = score.configured_threshold
        drifted = bool(q <= alpha and score.effect >= floor)
        details: dict[str, object] = {
            "adjusted_p_value": float(q),
            "effect_floor": floor,
            "fdr_alpha": alpha,
        }
        if score.method in DISTANCE_METHODS:
            null_threshold = score.null_quantile(settings.fdr_alpha / family)
            details["calibrated_threshold"] = max(null_threshold, score.threshold)
            drifted = drifted and score.score >= score.threshold
        out.append((drifted, details))
    return out


def _problem_record(
    spec: ColumnSpec, problem: ColumnProblem, segment: str, mode: str
) -> MetricRecord:
    return MetricRecord(
        metric=ROLE_METRIC[spec.role],
        value=None,
        status=problem.status,
        column=spec.name,
        segment=segment,
        details={"reason": problem.reason, "mode": mode},
    )


def records_for_window(
    results: Sequence[tuple[ColumnSpec, ColumnScore | ColumnProblem]],
    settings: DriftSettings,
    segment: str,
) -> list[MetricRecord]:
    """Column records plus the dataset's drifted share and count for one (segment of a) window."""
    scores = [(spec, r) for spec, r in results if isinstance(r, ColumnScore)]
    verdicts = dict(
        zip(
            (spec.name for spec, _ in scores),
            _decide([r for _, r in scores], settings),
            strict=True,
        )
    )
    records: list[MetricRecord] = []
    drifted_features, tested_features = 0, 0
    for spec, result in results:
        if isinstance(result, ColumnProblem):
            records.append(_problem_record(spec, result, segment, settings.mode))
            continue
        drifted, extra = verdicts[spec.name]
        details = {**result.details(), **extra, "mode": settings.mode}
        status = MetricStatus.DRIFT if drifted else MetricStatus.OK
        records.append(
            MetricRecord(ROLE_METRIC[spec.role], result.score, status, spec.name, segment, details)
        )
        if spec.role == "feature":
            tested_features += 1
            drifted_features += int(drifted)
    records.extend(_dataset_records(drifted_features, tested_features, settings, segment))
    return records


def _dataset_records(
    drifted: int, tested: int, settings: DriftSettings, segment: str
) -> list[MetricRecord]:
    if tested == 0:
        reason = "no feature column could be tested for drift in this window"
        return [
            MetricRecord(
                m, None, MetricStatus.INSUFFICIENT_DATA, DATASET, segment, {"reason": reason}
            )
            for m in (Metric.DRIFT_SHARE, Metric.DRIFT_COUNT)
        ]
    share = drifted / tested
    status = MetricStatus.DRIFT if share >= settings.drift_share else MetricStatus.OK
    details = {
        "drifted_columns": drifted,
        "tested_columns": tested,
        "drift_share_threshold": settings.drift_share,
    }
    return [
        MetricRecord(
            Metric.DRIFT_SHARE, share, status, DATASET, segment, {**details, "mode": settings.mode}
        ),
        MetricRecord(
            Metric.DRIFT_COUNT,
            float(drifted),
            status,
            DATASET,
            segment,
            {**details, "mode": settings.mode},
        ),
    ]


def _window_records(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    specs: Sequence[ColumnSpec],
    settings: DriftSettings,
    segment: str,
) -> list[MetricRecord]:
    results = [(spec, score_in_memory(reference, current, spec, settings)) for spec in specs]
    return records_for_window(results, settings, segment)


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    prediction: str | None = None,
    target: str | None = None,
    segments: Sequence[str] = (),
    settings: DriftSettings | None = None,
) -> list[MetricRecord]:
    """Drift records of a whole in-memory window and of each configured segment value."""
    settings = settings or DriftSettings()
    specs = column_specs(reference, numerical, categorical, prediction, target)
    records = _window_records(reference, current, specs, settings, DATASET)
    for column in segments:
        records.extend(_segment_records(reference, current, column, specs, settings))
    return records


def segment_values(
    reference: pd.Series | None, current: pd.Series | None, column: str, settings: DriftSettings
) -> tuple[list[tuple[str, object]], list[MetricRecord]]:
    """The (key, value) segments to test, and the records of those that cannot be tested.

    Takes only the segment column of each side, so windows read column by column can plan
    their segments before scoring any feature.
    """
    if current is None or reference is None:
        reason = f"segment column {column!r} is missing from the reference or the current window"
        record = MetricRecord(
            Metric.DRIFT_SHARE,
            None,
            MetricStatus.ERROR,
            DATASET,
            segment_key(column, ""),
            {"reason": reason},
        )
        return [], [record]
    testable: list[tuple[str, object]] = []
    skipped: list[MetricRecord] = []
    ref_counts = reference.value_counts(dropna=True)
    cur_counts = current.value_counts(dropna=True)
    for value in cur_counts.index[: settings.max_segment_values]:
        key = segment_key(column, value)
        n_ref, n_cur = int(ref_counts.get(value, 0)), int(cur_counts[value])
        if min(n_ref, n_cur) >= settings.min_segment_rows:
            testable.append((key, value))
            continue
        reason = (
            f"segment has {n_ref} reference and {n_cur} current rows; "
            f"{settings.min_segment_rows} needed in each"
        )
        skipped.extend(
            MetricRecord(m, None, MetricStatus.INSUFFICIENT_DATA, DATASET, key, {"reason": reason})
            for m in (Metric.DRIFT_SHARE, Metric.DRIFT_COUNT)
        )
    return testable, skipped


def _segment_records(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    column: str,
    specs: Sequence[ColumnSpec],
    settings: DriftSettings,
) -> list[MetricRecord]:
    testable, records = segment_values(reference.get(column), current.get(column), column, settings)
    for key, value in testable:
        records.extend(
            _window_records(
                reference[reference[column] == value],
                current[current[column] == value],
                [s for s in specs if s.name != column],
                settings,
                key,
            )
        )
    return records
