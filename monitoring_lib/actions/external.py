"""The serving model as the first champion.

A model whose predictions are in the log was serving before driftwise was set up; with nothing in
the registry, the first retraining would otherwise be promoted blind. So it is registered as an
*external* version (at the first run, or by ``driftwise models register``): no model file
driftwise can run, its baseline metrics computed from the reference's own predictions and
outcomes, with their intervals. The gate then scores a challenger against the serving model's
*logged* predictions on the same holdout rows, so a challenger is promoted only when it beats
the model that is really serving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from monitoring_lib.actions.registry import CHAMPION, ModelRegistry
from monitoring_lib.actions.training import Holdout, Scores, score_model
from monitoring_lib.io.sources import iter_source, read_all
from monitoring_lib.metrics.quality.counts import label_string
from monitoring_lib.metrics.quality.window import window_quality
from monitoring_lib.records import DATASET, TASK_METRICS, MetricStatus
from monitoring_lib.spec.base import Task
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.repository import ensure_model, require_model_id

EXTERNAL = "external"
"""The ``source`` tag of a version driftwise did not train."""


class ExternalModelError(RuntimeError):
    """Something tried to run a model that lives outside driftwise."""


@dataclass(frozen=True)
class ServingModel:
    """What the registry stores for an external version: a marker, not a model. Its predictions
    come from the log, never from calling it."""

    model_name: str

    def predict(self, features: Any) -> Any:
        raise ExternalModelError(
            f"{self.model_name}: the serving model lives outside driftwise; its predictions are "
            "read from the prediction log, it cannot be run here"
        )

    predict_proba = predict


def logged_columns(spec: MonitorSpec) -> list[str]:
    """The log's columns that hold the serving model's output: prediction and probabilities."""
    columns = spec.columns
    probability = columns.probability if spec.task is not Task.REGRESSION else None
    extra = [probability] if isinstance(probability, str) else list((probability or {}).values())
    return [c for c in [columns.prediction, *extra] if c]


def can_register(spec: MonitorSpec) -> bool:
    """A serving model can be compared with only when its predictions and labels exist."""
    return spec.columns.prediction is not None and spec.columns.target is not None


def reference_scores(spec: MonitorSpec) -> pd.DataFrame:
    """The reference's target and the serving model's output on it (only those columns)."""
    wanted = [*logged_columns(spec), *([spec.columns.target] if spec.columns.target else [])]
    chunks = iter_source(spec.sources.reference, spec.base_dir, "reference", columns=wanted)
    return read_all(chunks, wanted)


def reference_baseline(
    spec: MonitorSpec, reference: pd.DataFrame
) -> tuple[dict[str, float], dict[str, Any]]:
    """Quality of the reference's own predictions against its outcomes: the baseline metrics,
    and their intervals (or why there are none) for the version's tags."""
    columns = spec.columns
    if columns.target is None or columns.prediction is None:
        return {}, {"reason": "the spec names no target or prediction column"}
    probability = columns.probability if spec.task is not Task.REGRESSION else None
    records = window_quality(
        reference, task=spec.task, target=columns.target, prediction=columns.prediction,
        probability=probability,
    ).records  # fmt: skip
    kept = [
        r for r in records
        if r.column == DATASET and r.metric.startswith("quality.") and r.value is not None
        and r.status is MetricStatus.OK
    ]  # fmt: skip
    if not kept:
        why = [r.details.get("reason") for r in records if r.details.get("reason")]
        return {}, {"reason": why[0] if why else "the reference has no scored, labelled rows"}
    interval_keys = ("se", "ci_lower", "ci_upper", "ci_level", "ci_method", "denominator_rows")
    intervals = {r.metric: {k: r.details[k] for k in interval_keys if k in r.details} for r in kept}
    return {r.metric: float(r.value or 0.0) for r in kept}, intervals


def is_external(registry: ModelRegistry, model_name: str, version: int) -> bool:
    found = [v for v in registry.versions(model_name) if v.version == version]
    return bool(found) and found[0].tags.get("source") == EXTERNAL


def register_serving_model(
    registry: ModelRegistry,
    spec: MonitorSpec,
    reference: pd.DataFrame,
    *,
    now: datetime,
    how: str,
) -> int:
    """Register the serving model as a new external version and make it the champion."""
    metrics, intervals = reference_baseline(spec, reference)
    tags = {
        "source": EXTERNAL,
        "predictions": "logged",
        "baseline": "the reference's own predictions and outcomes",
        "reference_rows": len(reference),
        "intervals": intervals,
        "registered": how,
        "registered_at": now.isoformat(),
    }
    version = registry.register(spec.name, ServingModel(spec.name), metrics, tags)
    registry.set_alias(spec.name, CHAMPION, version)
    return version


def register_if_no_champion(
    session: Session, registry: ModelRegistry, spec: MonitorSpec, *, now: datetime
) -> int | None:
    """At a model's first run: the serving model becomes the champion unless one exists.

    The model's row is locked first, so two first runs at once register it once.
    """
    if not can_register(spec):
        return None
    ensure_model(session, spec.name, spec.task.value)
    require_model_id(session, spec.name, lock=True)
    if registry.get_alias(spec.name, CHAMPION) is not None:
        return None
    return register_serving_model(
        registry, spec, reference_scores(spec), now=now, how="at the first run"
    )


# --- the gate against the logged predictions ------------------------------------------------


def _whole(values: pd.Series) -> pd.Series:
    """Whole-number floats (a column with gaps is float) as ints, so 1.0 equals the label 1."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and np.all(np.mod(numeric, 1) == 0):
        return numeric.astype("int64")
    return values


class LoggedModel:
    """The serving model's logged output for a holdout, behind ``predict``/``predict_proba``, so
    that it is scored by the very code that scores a challenger (rows matched by index)."""

    def __init__(self, spec: MonitorSpec, logged: pd.DataFrame, target: pd.Series) -> None:
        self.task = spec.task
        self.predicted = _whole(logged[spec.columns.prediction or ""])
        probability = spec.columns.probability
        self.columns = {}
        if self.task is Task.BINARY and isinstance(probability, str):
            others = sorted({v for v in target.tolist() if label_string(v) != "1"}, key=str)
            self.classes_ = [others[0] if others else 0, _like(1, target)]
            self.columns = {1: probability}
        elif self.task is Task.MULTICLASS and isinstance(probability, Mapping):
            self.classes_ = [_like(label, target) for label in probability]
            self.columns = dict(zip(range(len(self.classes_)), probability.values(), strict=True))
        self.logged = logged

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.predicted.loc[features.index])

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        rows = self.logged.loc[features.index]
        if self.task is Task.BINARY:
            positive = rows[self.columns[1]].to_numpy(np.float64)
            return np.column_stack([1.0 - positive, positive])
        return np.column_stack([rows[c].to_numpy(np.float64) for c in self.columns.values()])


def _like(label: object, target: pd.Series) -> object:
    """A class label as the target spells it (``1`` for ``'1'`` when the target is int)."""
    for value in target.drop_duplicates().tolist():
        if label_string(value) == label_string(label):
            return value
    return label


def score_against_log(
    spec: MonitorSpec, challenger: Any, holdout: Holdout
) -> tuple[Scores, Scores, str]:
    """The serving model (from its logged predictions) and the challenger, on the holdout rows
    whose logged output is known; both on the same rows, and a sentence saying which."""
    logged = holdout.holdout_logged
    columns = logged_columns(spec)
    if logged is None or not set(columns) <= set(logged.columns):
        usable = pd.Series(False, index=holdout.holdout_target.index)
    else:
        usable = logged[columns].notna().all(axis=1)
    x, y = holdout.holdout_features.loc[usable], holdout.holdout_target.loc[usable]
    task = spec.task.value
    if not len(y) or logged is None:
        why = "no holdout row has the serving model's logged prediction: it cannot be compared"
        nothing = Scores({str(name): float("nan") for name in TASK_METRICS[task]}, {"": why})
        features, target = holdout.holdout_features, holdout.holdout_target
        return nothing, score_model(challenger, features, target, task=task), why
    champion = score_model(LoggedModel(spec, logged.loc[usable], y), x, y, task=task)
    basis = (
        f"the champion is the serving model, scored from its logged predictions on {len(y)} of "
        f"{len(holdout.holdout_target)} holdout rows; the challenger on the same rows"
    )
    return champion, score_model(challenger, x, y, task=task), basis


def versions_summary(registry: ModelRegistry, model_name: str) -> Sequence[str]:
    """One line per version, for the command line."""
    champion = registry.get_alias(model_name, CHAMPION)
    lines = []
    for info in registry.versions(model_name):
        kind = "external (serving model)" if info.tags.get("source") == EXTERNAL else "trained"
        mark = " champion" if info.version == champion else ""
        shown = ", ".join(
            f"{name.removeprefix('quality.')} {value:.4g}"
            for name, value in sorted(info.metrics.items())
            if value is not None
        )
        lines.append(f"v{info.version}{mark}: {kind}; {shown or 'no baseline metrics'}")
    return lines
