"""Retraining, step by step: the training set, a seeded holdout, the user's trainer, scores, gate.

Every step is a plain function of data (no store, no Prefect), so a flow can wrap each in a task
and a test can call each alone. The gate fails closed: a metric that is missing or not a finite
number on either side means no promotion, with the reason in words.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

from monitoring_lib.errors import DeterministicError
from monitoring_lib.records import TASK_METRICS, Metric
from monitoring_lib.spec.actions import TRAINER_PATH
from monitoring_lib.store.repository import StoredWindow

if TYPE_CHECKING:
    from monitoring_lib.spec.monitor import MonitorSpec


Trainer = Callable[..., Any]
"""``trainer(features, target, *, spec) -> fitted estimator`` with predict (and predict_proba)."""


class TrainingDataError(DeterministicError, ValueError):
    """The labelled rows cannot make a training set (too few, one class, missing columns)."""


class TrainerError(RuntimeError):
    """The user's trainer could not be imported, failed, or returned no usable estimator."""


def pick_training_windows(stored: Sequence[StoredWindow], count: int) -> list[StoredWindow]:
    """The ``count`` most recent windows that had labelled rows, oldest first."""
    labelled = [window for window in stored if (window.labelled_rows or 0) > 0]
    return sorted(labelled, key=lambda window: window.start)[-count:] if count > 0 else []


@dataclass(frozen=True)
class TrainingSet:
    features: pd.DataFrame
    target: pd.Series
    rows_by_source: dict[str, int]
    """Labelled rows taken from each source ('window 1', ..., 'reference'), for the actions row."""
    carried: pd.DataFrame | None = None
    """Columns carried along row by row (the serving model's logged output), NaN where a
    source lacks them; not features."""


def build_training_set(
    windows: Sequence[pd.DataFrame],
    *,
    features: Sequence[str],
    target: str,
    reference: pd.DataFrame | None = None,
    min_labelled_rows: int = 2,
    carry: Sequence[str] = (),
) -> TrainingSet:
    """Labelled rows of the recent windows (then the reference, if given), in the order given.

    ``carry`` names columns kept beside the features (the logged prediction and probabilities,
    which the gate scores the serving model from)."""
    sources = [(f"window {index + 1}", frame) for index, frame in enumerate(windows)]
    if reference is not None:
        sources.append(("reference", reference))
    parts, counts = [], {}
    for name, frame in sources:
        missing = [column for column in [*features, target] if column not in frame.columns]
        if missing:
            raise TrainingDataError(f"{name} lacks the column(s) {missing}")
        kept = [*features, target, *[c for c in carry if c in frame.columns]]
        labelled = frame.loc[frame[target].notna(), kept]
        counts[name] = len(labelled)
        parts.append(labelled)
    combined = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if len(combined) < max(min_labelled_rows, 2):
        raise TrainingDataError(
            f"{len(combined)} labelled rows, fewer than the {min_labelled_rows} required "
            f"(actions.retrain.min_labelled_rows); rows by source: {counts}"
        )
    carried = combined.reindex(columns=list(carry)) if carry else None
    return TrainingSet(combined[list(features)], _tidy_target(combined[target]), counts, carried)


def _tidy_target(target: pd.Series) -> pd.Series:
    """Whole-number floats (a target column with gaps is float) become ints, so 1.0 equals 1."""
    numeric = pd.to_numeric(target, errors="coerce")
    if numeric.notna().all() and np.all(np.mod(numeric, 1) == 0):
        return numeric.astype("int64").rename(target.name)
    return target


@dataclass(frozen=True)
class Holdout:
    train_features: pd.DataFrame
    train_target: pd.Series
    holdout_features: pd.DataFrame
    holdout_target: pd.Series
    stratified: bool
    rows_by_source: dict[str, int] = field(default_factory=dict)
    """The training set's labelled rows by source, for the run's log."""
    holdout_logged: pd.DataFrame | None = None
    """The carried columns of the holdout rows (same index): the serving model's output."""


def split_holdout(
    training: TrainingSet, *, fraction: float, seed: int, classification: bool
) -> Holdout:
    """A seeded split; stratified by class for classification so both sides see every class."""
    target = training.target
    if classification and target.nunique() < 2:
        raise TrainingDataError(
            f"the labelled rows hold one class only ({target.iloc[0]!r}): nothing to learn"
        )
    counts = target.value_counts()
    stratify = classification and int(counts.min()) >= 2
    holdout_rows = math.ceil(fraction * len(target))
    if stratify and min(holdout_rows, len(target) - holdout_rows) < len(counts):
        stratify = False
    train_x, test_x, train_y, test_y = train_test_split(
        training.features,
        target,
        test_size=fraction,
        random_state=seed,
        stratify=target if stratify else None,
    )
    logged = training.carried.loc[test_x.index] if training.carried is not None else None
    sources = dict(training.rows_by_source)
    return Holdout(train_x, train_y, test_x, test_y, stratify, sources, logged)


def load_trainer(path: str, *, key: str = "actions.retrain.trainer") -> Trainer:
    """Import ``module:function`` now (not when the spec loads), naming the spec key on failure."""
    if not TRAINER_PATH.match(path):
        raise TrainerError(f"{key}: {path!r} is not a 'module:function' path")
    module_name, function_name = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # a user's module may fail at import in any way
        why = f"{type(error).__name__}: {error}"
        raise TrainerError(f"{key}: cannot import module {module_name!r}: {why}") from error
    trainer = getattr(module, function_name, None)
    if not callable(trainer):
        raise TrainerError(f"{key}: module {module_name!r} has no function {function_name!r}")
    return cast(Trainer, trainer)


def train_challenger(trainer: Trainer, holdout: Holdout, *, spec: MonitorSpec) -> Any:
    """Call the trainer on the training part; check that what it returns can be scored."""
    name = getattr(trainer, "__qualname__", repr(trainer))
    try:
        model = trainer(holdout.train_features, holdout.train_target, spec=spec)
    except Exception as error:
        raise TrainerError(f"trainer {name} failed: {type(error).__name__}: {error}") from error
    needed = ["predict"] if spec.task == "regression" else ["predict", "predict_proba"]
    lacking = [method for method in needed if not callable(getattr(model, method, None))]
    if lacking:
        raise TrainerError(f"trainer {name} returned {type(model).__name__} without {lacking}")
    return model


@dataclass(frozen=True)
class Scores:
    """One model's metrics on the holdout; NaN where a metric could not be computed."""

    values: dict[str, float]
    notes: dict[str, str]
    """Why a metric is NaN (or, under '', why the model could not be scored at all)."""


def score_model(
    model: Any, features: pd.DataFrame, target: pd.Series, *, task: str, pos_label: object = 1
) -> Scores:
    """The task's metrics (names as the store keeps them) of ``model`` on a holdout."""
    if task not in TASK_METRICS:
        raise ValueError(f"task {task!r} is not one of {sorted(TASK_METRICS)}")
    names = [str(name) for name in TASK_METRICS[task]]
    try:
        predicted = np.asarray(model.predict(features))
        probability = None if task == "regression" else np.asarray(model.predict_proba(features))
    except Exception as error:
        why = f"the model could not predict on the holdout: {type(error).__name__}: {error}"
        return Scores({name: math.nan for name in names}, {"": why})
    truth = target.to_numpy()
    values, notes = {}, {}
    for name in names:
        try:
            values[name] = float(
                _metric(name, truth, predicted, probability, task, _classes(model), pos_label)
            )
        except ValueError as error:
            values[name], notes[name] = math.nan, str(error)
        if not math.isfinite(values[name]) and name not in notes:
            notes[name] = "not a finite number on this holdout"
    return Scores(values, notes)


def _classes(model: Any) -> list[Any]:
    return list(getattr(model, "classes_", []))


def _metric(
    name: str,
    truth: np.ndarray,
    predicted: np.ndarray,
    probability: np.ndarray | None,
    task: str,
    classes: list[Any],
    pos_label: object,
) -> float:
    """One sklearn metric; a ValueError says why it cannot be computed here."""
    if name == Metric.ACCURACY:
        return float(skm.accuracy_score(truth, predicted))
    if name in (Metric.PRECISION, Metric.RECALL, Metric.F1):
        scorer = {Metric.PRECISION: skm.precision_score, Metric.RECALL: skm.recall_score}.get(
            Metric(name), skm.f1_score
        )
        if task == "binary":
            return float(scorer(truth, predicted, pos_label=pos_label, zero_division=0.0))
        return float(scorer(truth, predicted, average="macro", zero_division=0.0))
    if name in (Metric.ROC_AUC, Metric.LOG_LOSS):
        return _probability_metric(name, truth, probability, task, classes, pos_label)
    if name == Metric.MAPE and np.any(truth == 0):
        raise ValueError("a holdout target is 0, where MAPE is undefined")
    regression = {
        Metric.RMSE: skm.root_mean_squared_error,
        Metric.MAE: skm.mean_absolute_error,
        Metric.R2: skm.r2_score,
    }
    if name == Metric.MAPE:
        return 100.0 * float(skm.mean_absolute_percentage_error(truth, predicted))
    return float(regression[Metric(name)](truth, predicted))


def _probability_metric(
    name: str,
    truth: np.ndarray,
    probability: np.ndarray | None,
    task: str,
    classes: list[Any],
    pos_label: object,
) -> float:
    if probability is None or probability.ndim != 2 or probability.shape[1] != len(classes):
        raise ValueError("the model's predict_proba does not give one column per class_")
    if len(set(truth.tolist())) < 2:
        raise ValueError(f"the holdout holds one class only, so {name} is undefined")
    if name == Metric.LOG_LOSS:
        return float(skm.log_loss(truth, probability, labels=classes))
    if task == "binary":
        if pos_label not in classes:
            raise ValueError(f"the positive class {pos_label!r} is not among {classes}")
        positive = probability[:, classes.index(pos_label)]
        return float(skm.roc_auc_score(truth == pos_label, positive))
    return float(
        skm.roc_auc_score(truth, probability, multi_class="ovr", average="macro", labels=classes)
    )
