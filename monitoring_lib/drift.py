"""Per-column drift of a window against a reference, as MetricRecords.

Scores come from :mod:`monitoring_lib.drift_stats` (equal to Evidently's stattests, far
faster); Evidently itself only draws the HTML report. Two verdict modes:

* ``evidently``: Evidently's plain rule (p-value below / distance above the method threshold).
* ``calibrated`` (default): quiet on unchanged data. Distances get a null distribution from
  reference-vs-reference resamples of the window's effective size (deterministic seed) and so a
  tail probability; all of a window's p-values are Benjamini-Hochberg adjusted together; and a
  column is flagged only if, in addition, its effect size (normed Wasserstein for numerical
  columns, Jensen-Shannon distance for categorical ones) reaches a floor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from monitoring_lib import drift_stats as ds
from monitoring_lib.drift_stats import ColumnProblem, ColumnScore
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus, segment_key

Method = Literal["auto", "ks", "wasserstein", "psi", "jensenshannon", "chisquare", "z"]


class ColumnOverride(BaseModel):
    """Method and threshold for one column, replacing the global ones."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method | None = None
    """Test for this column (None = the global method)."""
    threshold: float | None = Field(None, gt=0)
    """Threshold for this column (None = the global threshold or the method's default)."""


class DriftSettings(BaseModel):
    """How driftwise tests a window for drift; embedded under a monitor spec's ``drift:`` key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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
    """Rows per side the Evidently HTML report samples (it is slow on full windows)."""

    def method_for(self, column: str) -> str:
        """The configured method name of ``column``."""
        override = self.per_column.get(column)
        return override.method if override and override.method else self.method

    def threshold_for(self, column: str) -> float | None:
        """The configured threshold of ``column`` (None = the method's default)."""
        override = self.per_column.get(column)
        return override.threshold if override and override.threshold is not None else self.threshold


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
    kind: ds.Kind
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
            kind: ds.Kind = "numerical" if numeric and frame[name].dtype != bool else "categorical"
            specs.append(ColumnSpec(name, kind, role))  # type: ignore[arg-type]
    return specs


def scoring_options(settings: DriftSettings) -> ds.ScoringOptions:
    """The part of the settings that column scoring uses."""
    return ds.ScoringOptions(
        min_rows=settings.min_rows,
        calibrate=settings.mode == "calibrated",
        resamples=settings.calibration_resamples,
        max_rows=settings.calibration_max_rows,
        grid=settings.calibration_grid,
        seed=settings.seed,
    )


def _missing(frame: pd.DataFrame, name: str, side: str) -> ColumnProblem | None:
    if name in frame.columns:
        return None
    return ColumnProblem(MetricStatus.ERROR, f"column {name!r} is missing from the {side}")


def category_counts(series: pd.Series, side: str) -> pd.Series | ColumnProblem:
    """Value counts of a categorical column, or an ERROR for values that cannot be counted."""
    try:
        counts = ds.value_counts(series)
        if counts.index.is_unique:  # hashing happens here for object values
            return counts
        return ColumnProblem(
            MetricStatus.ERROR, f"the {side} holds values that compare unequal to themselves"
        )
    except TypeError as exc:
        return ColumnProblem(
            MetricStatus.ERROR, f"the {side} holds values that cannot be counted: {exc}"
        )


def _score_in_memory(
    reference: pd.DataFrame, current: pd.DataFrame, spec: ColumnSpec, settings: DriftSettings
) -> ColumnScore | ColumnProblem:
    problem = _missing(reference, spec.name, "reference") or _missing(
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
        return ds.score_categorical_counts(ref_counts, cur_counts, method, threshold, options)
    ref = ds.clean_numeric(reference[spec.name], "reference")
    cur = ds.clean_numeric(current[spec.name], "current window")
    if isinstance(ref, ColumnProblem):
        return ref
    if isinstance(cur, ColumnProblem):
        return cur
    if min(ref[0].size, cur[0].size) < options.min_rows:
        return ds.too_few(ref[0].size, cur[0].size, options)
    prepared = ds.NumericReference.build(*ref)
    window = ds.window_from_values(prepared, cur[0], cur[1], method)
    return ds.score_numeric(prepared, window, method, threshold, options)


def _decide(
    scores: list[ColumnScore], settings: DriftSettings
) -> list[tuple[bool, dict[str, object]]]:
    """Verdict and verdict details of each score; calibrated mode adjusts all p-values together."""
    p_values = np.array([s.p_value for s in scores], dtype=np.float64)
    adjusted = ds.benjamini_hochberg(p_values)
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
        if score.method in ds.P_VALUE_METHODS and score.configured_threshold is not None:
            alpha = score.configured_threshold
        drifted = bool(q <= alpha and score.effect >= floor)
        details: dict[str, object] = {
            "adjusted_p_value": float(q),
            "effect_floor": floor,
            "fdr_alpha": alpha,
        }
        if score.method in ds.DISTANCE_METHODS:
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
    results = [(spec, _score_in_memory(reference, current, spec, settings)) for spec in specs]
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


def _segment_records(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    column: str,
    specs: Sequence[ColumnSpec],
    settings: DriftSettings,
) -> list[MetricRecord]:
    if column not in current.columns or column not in reference.columns:
        reason = f"segment column {column!r} is missing from the reference or the current window"
        return [
            MetricRecord(
                Metric.DRIFT_SHARE,
                None,
                MetricStatus.ERROR,
                DATASET,
                segment_key(column, ""),
                {"reason": reason},
            )
        ]
    records: list[MetricRecord] = []
    values = current[column].value_counts(dropna=True).index[: settings.max_segment_values]
    for value in values:
        key = segment_key(column, value)
        ref_part, cur_part = (
            reference[reference[column] == value],
            current[current[column] == value],
        )
        if min(len(ref_part), len(cur_part)) < settings.min_segment_rows:
            reason = (
                f"segment has {len(ref_part)} reference and {len(cur_part)} current rows; "
                f"{settings.min_segment_rows} needed in each"
            )
            records.extend(
                MetricRecord(
                    m, None, MetricStatus.INSUFFICIENT_DATA, DATASET, key, {"reason": reason}
                )
                for m in (Metric.DRIFT_SHARE, Metric.DRIFT_COUNT)
            )
            continue
        records.extend(
            _window_records(
                ref_part, cur_part, [s for s in specs if s.name != column], settings, key
            )
        )
    return records


# --- windows larger than memory ---------------------------------------------------------------

ChunkState: TypeAlias = ds.NumericSketch | pd.Series | ColumnProblem


def _chunk_state(
    spec: ColumnSpec, chunk: pd.DataFrame, prepared: ds.NumericReference | ColumnProblem | None
) -> ChunkState:
    problem = _missing(chunk, spec.name, "current window")
    if problem:
        return problem
    if spec.kind == "categorical":
        return category_counts(chunk[spec.name], "current window")
    cleaned = ds.clean_numeric(chunk[spec.name], "current window")
    if (
        isinstance(prepared, ColumnProblem)
        or prepared is None
        or isinstance(cleaned, ColumnProblem)
    ):
        return prepared if isinstance(prepared, ColumnProblem) else cleaned
    return ds.NumericSketch.of(prepared, *cleaned)


def _merge_state(old: ChunkState | None, new: ChunkState) -> ChunkState:
    if old is None or isinstance(new, ColumnProblem):
        return new
    if isinstance(old, ColumnProblem):
        return old
    if isinstance(old, ds.NumericSketch) and isinstance(new, ds.NumericSketch):
        return old.merge(new)
    return old.add(new, fill_value=0)  # type: ignore[union-attr]


def _prepare_reference(
    reference: pd.DataFrame, spec: ColumnSpec
) -> ds.NumericReference | ColumnProblem:
    problem = _missing(reference, spec.name, "reference")
    if problem:
        return problem
    cleaned = ds.clean_numeric(reference[spec.name], "reference")
    if isinstance(cleaned, ColumnProblem):
        return cleaned
    if cleaned[0].size == 0:
        return ColumnProblem(MetricStatus.INSUFFICIENT_DATA, "the reference has no non-null values")
    return ds.NumericReference.build(*cleaned)


def _needs_bins(state: ChunkState, prepared: object, method: str) -> bool:
    return (
        isinstance(state, ds.NumericSketch)
        and isinstance(prepared, ds.NumericReference)
        and prepared.binned
        and method in ("psi", "jensenshannon")
    )


def compute_drift_chunked(
    reference: pd.DataFrame,
    chunks: Callable[[], Iterable[pd.DataFrame]],
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    prediction: str | None = None,
    target: str | None = None,
    settings: DriftSettings | None = None,
) -> list[MetricRecord]:
    """Drift records of a window read chunk by chunk, merging per-chunk sufficient statistics.

    ``chunks`` is called once, or twice when a numerical column uses binned PSI/JS (the
    second pass fills histograms whose Sturges edges depend on the whole window). Results
    equal :func:`compute_drift` except Wasserstein, see ``drift_stats.wasserstein_from_sketch``.
    Segments are computed in memory only.
    """
    settings = settings or DriftSettings()
    specs = column_specs(reference, numerical, categorical, prediction, target)
    prepared = {s.name: _prepare_reference(reference, s) for s in specs if s.kind == "numerical"}
    states: dict[str, ChunkState] = {}
    for chunk in chunks():
        for spec in specs:
            state = _chunk_state(spec, chunk, prepared.get(spec.name))
            states[spec.name] = _merge_state(states.get(spec.name), state)
    binned = [
        s.name
        for s in specs
        if _needs_bins(states.get(s.name), prepared.get(s.name), settings.method_for(s.name))
    ]
    if binned:
        _fill_bins(chunks, binned, states, prepared)
    results = [
        (
            spec,
            _score_state(spec, states.get(spec.name), prepared.get(spec.name), reference, settings),
        )
        for spec in specs
    ]
    return records_for_window(results, settings, DATASET)


def _fill_bins(
    chunks: Callable[[], Iterable[pd.DataFrame]],
    names: Sequence[str],
    states: dict[str, ChunkState],
    prepared: dict[str, ds.NumericReference | ColumnProblem],
) -> None:
    edges = {n: states[n].edges(prepared[n]) for n in names}  # type: ignore[union-attr,arg-type]
    totals = {n: np.zeros(e.size - 1) for n, e in edges.items()}
    for chunk in chunks():
        for name in names:
            cleaned = ds.clean_numeric(chunk[name], "current window")
            if not isinstance(cleaned, ColumnProblem):
                totals[name] += np.histogram(cleaned[0], edges[name])[0]
    for name in names:
        sketch = states[name]
        assert isinstance(sketch, ds.NumericSketch)
        states[name] = ds.NumericSketch(**{**sketch.__dict__, "bins": totals[name]})


def _score_state(
    spec: ColumnSpec,
    state: ChunkState | None,
    prepared: ds.NumericReference | ColumnProblem | None,
    reference: pd.DataFrame,
    settings: DriftSettings,
) -> ColumnScore | ColumnProblem:
    method, threshold = settings.method_for(spec.name), settings.threshold_for(spec.name)
    options = scoring_options(settings)
    if state is None:
        return ColumnProblem(MetricStatus.INSUFFICIENT_DATA, "the current window had no chunks")
    if isinstance(state, ColumnProblem):
        return state
    if isinstance(prepared, ColumnProblem):
        return prepared
    if isinstance(state, ds.NumericSketch) and prepared is not None:
        return ds.score_numeric(
            prepared, state.to_window(prepared, method), method, threshold, options
        )
    ref_counts = _missing(reference, spec.name, "reference") or category_counts(
        reference[spec.name], "reference"
    )
    if isinstance(ref_counts, ColumnProblem):
        return ref_counts
    return ds.score_categorical_counts(ref_counts, state, method, threshold, options)
