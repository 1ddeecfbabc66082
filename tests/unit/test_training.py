"""Retraining steps without a store: training set, holdout, trainer, scores, gate, settings."""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from monitoring_lib import demo_data
from monitoring_lib.actions.gate import Approval, ApprovalVerdict, decide_promotion, gate
from monitoring_lib.actions.retrain import actions_of
from monitoring_lib.actions.training import (
    TrainerError,
    TrainingDataError,
    TrainingSet,
    build_training_set,
    load_trainer,
    pick_training_windows,
    score_model,
    split_holdout,
    train_challenger,
)
from monitoring_lib.example_trainer import train
from monitoring_lib.records import Metric
from monitoring_lib.spec.actions import ActionsSpec, RetrainSpec, task_problems
from monitoring_lib.spec.monitor import MonitorSpec, parse_spec
from monitoring_lib.store.repository import StoredWindow
from tests.credit_world import credit_spec

AUC = Metric.ROC_AUC
RMSE = Metric.RMSE


@pytest.fixture
def spec(tmp_path: Path) -> MonitorSpec:
    return credit_spec(tmp_path)


def world_rows(rows: int, world: demo_data.World, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    features = demo_data.applicants(rows, world, rng)
    outcome = rng.random(rows) < demo_data.default_probability(features, world)
    return features.assign(defaulted=outcome.astype(int))


# --- the gate -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("champion", "challenger", "metric", "margin", "promote"),
    [
        ({AUC: 0.80}, {AUC: 0.83}, AUC, 0.02, True),
        ({AUC: 0.80}, {AUC: 0.81}, AUC, 0.01, True),  # exactly the margin passes
        ({AUC: 0.80}, {AUC: 0.805}, AUC, 0.01, False),  # better, but not by the margin
        ({AUC: 0.80}, {AUC: 0.80}, AUC, 0.0, False),  # equal is not better
        ({AUC: 0.80}, {AUC: 0.70}, AUC, 0.0, False),
        ({AUC: 0.80}, {}, AUC, 0.0, False),
        ({AUC: 0.80}, {AUC: math.nan}, AUC, 0.0, False),
        ({}, {AUC: 0.90}, AUC, 0.0, False),
        ({AUC: math.nan}, {AUC: 0.90}, AUC, 0.0, False),
        ({AUC: 0.80}, {AUC: math.inf}, AUC, 0.0, False),
        ({RMSE: 10.0}, {RMSE: 8.0}, RMSE, 1.0, True),  # lower is better
        ({RMSE: 10.0}, {RMSE: 9.5}, RMSE, 1.0, False),
        ({RMSE: 10.0}, {RMSE: 12.0}, RMSE, 0.0, False),
        ({Metric.LOG_LOSS: 0.5}, {Metric.LOG_LOSS: 0.4}, Metric.LOG_LOSS, 0.05, True),
        ({"custom": 1.0}, {"custom": 2.0}, "custom", 0.0, False),  # direction unknown
    ],
)
def test_gate_promotes_only_a_challenger_better_by_the_margin(
    champion: dict[str, float],
    challenger: dict[str, float],
    metric: str,
    margin: float,
    promote: bool,
) -> None:
    result = gate(champion, challenger, metric, margin)
    assert result.promote is promote
    assert len(result.reasons) == 1
    assert result.reasons[0]


@pytest.mark.parametrize(
    ("champion", "challenger", "words"),
    [
        ({AUC: 0.8}, {}, "challenger has no finite"),
        ({AUC: 0.8}, {AUC: math.nan}, "fail closed"),
        ({}, {AUC: 0.9}, "champion has no finite"),
        ({AUC: 0.8}, {AUC: 0.79}, "not better by the margin"),
    ],
)
def test_gate_says_why_it_rejects(
    champion: dict[str, float], challenger: dict[str, float], words: str
) -> None:
    result = gate(champion, challenger, AUC, 0.0)
    assert not result.promote
    assert words in result.reasons[0]


def test_gate_reasons_give_the_improvement_against_the_margin() -> None:
    rejected = gate({AUC: 0.8030}, {AUC: 0.8121}, AUC, 0.01)
    assert rejected.reasons == (
        "challenger quality.roc_auc 0.8121 vs champion 0.803: +0.0091 < margin 0.01, "
        "not better by the margin",
    )
    promoted = gate({AUC: 0.80}, {AUC: 0.83}, AUC, 0.01)
    assert promoted.reasons == (
        "challenger quality.roc_auc 0.83 vs champion 0.8: +0.03 >= margin 0.01",
    )


def test_gate_with_no_champion_promotes_a_challenger_that_has_the_metric() -> None:
    assert gate(None, {AUC: 0.7}, AUC, 0.05).promote
    assert not gate(None, {AUC: math.nan}, AUC, 0.0).promote


def test_gate_metrics_carry_the_numbers_behind_the_verdict() -> None:
    numbers = gate({RMSE: 10.0}, {RMSE: 7.5}, RMSE, 1.0).as_metrics()
    assert numbers == {
        "metric": RMSE,
        "margin": 1.0,
        "champion": 10.0,
        "challenger": 7.5,
        "improvement": 2.5,
    }


@pytest.mark.parametrize(
    ("required", "approval", "promote", "decided_by"),
    [
        (False, None, True, "gate"),
        (True, None, False, "gate"),
        (True, Approval(ApprovalVerdict.APPROVED, "ana"), True, "ana"),
        (True, Approval(ApprovalVerdict.REJECTED, "ben", "wait for Q3"), False, "ben"),
        (True, Approval(ApprovalVerdict.TIMED_OUT), False, "timeout"),
    ],
)
def test_promotion_needs_the_gate_and_any_required_approval(
    required: bool, approval: Approval | None, promote: bool, decided_by: str
) -> None:
    decision = decide_promotion(
        gate({AUC: 0.8}, {AUC: 0.9}, AUC, 0.0), approval_required=required, approval=approval
    )
    assert (decision.promote, decision.decided_by) == (promote, decided_by)


def test_an_approval_cannot_promote_a_challenger_the_gate_rejected() -> None:
    decision = decide_promotion(
        gate({AUC: 0.8}, {AUC: 0.7}, AUC, 0.0),
        approval_required=True,
        approval=Approval(ApprovalVerdict.APPROVED, "ana"),
    )
    assert not decision.promote
    assert decision.decided_by == "gate"


# --- training set and holdout ---------------------------------------------------------------


def test_training_set_keeps_labelled_rows_of_windows_then_reference() -> None:
    window = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, np.nan, 0.0]})
    reference = pd.DataFrame({"x": [9.0, 8.0], "y": [0, 1], "extra": ["a", "b"]})
    training = build_training_set([window], features=["x"], target="y", reference=reference)
    assert training.features["x"].tolist() == [1.0, 3.0, 9.0, 8.0]
    assert training.target.tolist() == [1, 0, 0, 1]
    assert training.target.dtype == np.int64  # 1.0 from a gappy column equals 1
    assert training.rows_by_source == {"window 1": 2, "reference": 2}


def test_training_set_refuses_too_few_labelled_rows() -> None:
    window = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, np.nan, np.nan]})
    with pytest.raises(TrainingDataError, match="1 labelled rows, fewer than the 5"):
        build_training_set([window], features=["x"], target="y", min_labelled_rows=5)


def test_training_set_names_a_missing_column() -> None:
    reference = pd.DataFrame({"x": [1.0]})
    with pytest.raises(TrainingDataError, match=r"reference lacks the column\(s\) \['y'\]"):
        build_training_set([], features=["x"], target="y", reference=reference)


def test_training_windows_are_the_most_recent_labelled_ones() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    stored = [
        StoredWindow(start + timedelta(days=i), start + timedelta(days=i + 1), labels)
        for i, labels in enumerate([10, 0, 5, None, 7])
    ]
    picked = pick_training_windows(stored, 2)
    assert [w.start.day for w in picked] == [3, 5]
    assert pick_training_windows(stored, 0) == []


def labelled(rows: int, positives: int) -> TrainingSet:
    target = pd.Series([1] * positives + [0] * (rows - positives), name="y")
    return TrainingSet(pd.DataFrame({"x": np.arange(rows, dtype=float)}), target, {})


def test_holdout_is_the_same_for_the_same_seed_and_stratified() -> None:
    training = labelled(200, 20)
    first = split_holdout(training, fraction=0.25, seed=3, classification=True)
    again = split_holdout(training, fraction=0.25, seed=3, classification=True)
    other = split_holdout(training, fraction=0.25, seed=4, classification=True)
    assert first.holdout_features.index.tolist() == again.holdout_features.index.tolist()
    assert first.holdout_features.index.tolist() != other.holdout_features.index.tolist()
    assert first.stratified
    assert int(first.holdout_target.sum()) == 5  # 10 % positives on both sides
    assert len(first.holdout_target) == 50


def test_holdout_falls_back_to_a_plain_split_when_a_class_is_too_rare() -> None:
    split = split_holdout(labelled(40, 1), fraction=0.25, seed=0, classification=True)
    assert not split.stratified
    assert len(split.holdout_target) == 10


def test_holdout_refuses_a_single_class() -> None:
    with pytest.raises(TrainingDataError, match="one class only"):
        split_holdout(labelled(30, 0), fraction=0.25, seed=0, classification=True)


# --- the trainer ----------------------------------------------------------------------------


def test_load_trainer_imports_the_dotted_path() -> None:
    assert load_trainer("monitoring_lib.example_trainer:train") is train


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("monitoring_lib.example_trainer.train", "is not a 'module:function' path"),
        ("no_such_package_xyz.trainers:train", "cannot import module 'no_such_package_xyz"),
        ("monitoring_lib.example_trainer:fit", "has no function 'fit'"),
        ("monitoring_lib.example_trainer:pd", "has no function 'pd'"),  # a module, not callable
    ],
)
def test_load_trainer_names_the_spec_key(path: str, words: str) -> None:
    with pytest.raises(TrainerError) as error:
        load_trainer(path)
    assert str(error.value).startswith("actions.retrain.trainer: ")
    assert words in str(error.value)


def failing_trainer(features: pd.DataFrame, target: pd.Series, *, spec: Any) -> Any:
    raise RuntimeError("out of memory")


def regressor_only(features: pd.DataFrame, target: pd.Series, *, spec: Any) -> Any:
    class PredictOnly:
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return np.zeros(len(frame))

    return PredictOnly()


@pytest.mark.parametrize(
    ("trainer", "words"),
    [(failing_trainer, "failed: RuntimeError: out of memory"), (regressor_only, "predict_proba")],
)
def test_train_challenger_reports_an_unusable_trainer(
    spec: MonitorSpec, trainer: Any, words: str
) -> None:
    split = split_holdout(labelled(40, 10), fraction=0.25, seed=0, classification=True)
    with pytest.raises(TrainerError, match=words):
        train_challenger(trainer, split, spec=spec)


# --- scores ---------------------------------------------------------------------------------


def test_binary_scores_match_scikit_learn(spec: MonitorSpec) -> None:
    rows = world_rows(1_500, demo_data.STATIONARY, seed=5)
    features = rows[demo_data.NUMERICAL + demo_data.CATEGORICAL]
    model = train(features.iloc[:1_000], rows["defaulted"].iloc[:1_000], spec=spec)
    holdout, truth = features.iloc[1_000:], rows["defaulted"].iloc[1_000:]
    scores = score_model(model, holdout, truth, task="binary")
    probability = model.predict_proba(holdout)[:, 1]
    assert scores.values[AUC] == pytest.approx(skm.roc_auc_score(truth, probability))
    assert scores.values[Metric.LOG_LOSS] == pytest.approx(skm.log_loss(truth, probability))
    assert scores.values[Metric.F1] == pytest.approx(skm.f1_score(truth, model.predict(holdout)))
    assert scores.notes == {}


def test_scores_of_a_one_class_holdout_are_missing_with_a_reason() -> None:
    features = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    model = DummyClassifier(strategy="prior").fit(features, [0, 1, 0, 1])
    scores = score_model(model, features.iloc[:2], pd.Series([0, 0]), task="binary")
    assert math.isnan(scores.values[AUC])
    assert "one class only" in scores.notes[AUC]
    assert scores.values[Metric.ACCURACY] == 1.0


def test_a_model_that_cannot_predict_scores_nothing(spec: MonitorSpec) -> None:
    model = LogisticRegression().fit(pd.DataFrame({"x": [0.0, 1.0]}), [0, 1])
    other_columns = pd.DataFrame({"renamed": [0.0]})
    scores = score_model(model, other_columns, pd.Series([1]), task="binary")
    assert all(math.isnan(value) for value in scores.values.values())
    assert "could not predict" in scores.notes[""]
    assert not gate({AUC: 0.7}, scores.values, AUC, 0.0).promote


def test_regression_scores_skip_mape_on_a_zero_target() -> None:
    class Echo:
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return frame["x"].to_numpy() + 1.0

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    scores = score_model(Echo(), frame, pd.Series([0.0, 1.0, 2.0]), task="regression")
    assert scores.values[RMSE] == pytest.approx(1.0)
    assert scores.values[Metric.MAE] == pytest.approx(1.0)
    assert math.isnan(scores.values[Metric.MAPE])
    assert "MAPE is undefined" in scores.notes[Metric.MAPE]


# --- the example trainer on the credit world ------------------------------------------------


def test_a_model_trained_on_the_changed_world_beats_the_stationary_one(spec: MonitorSpec) -> None:
    columns = demo_data.NUMERICAL + demo_data.CATEGORICAL
    stationary = world_rows(3_000, demo_data.STATIONARY, seed=11)
    changed = TrainingSet(
        (rows := world_rows(4_000, demo_data.CHANGED, seed=12))[columns], rows["defaulted"], {}
    )
    split = split_holdout(changed, fraction=0.25, seed=0, classification=True)
    champion = train(stationary[columns], stationary["defaulted"], spec=spec)
    challenger = train_challenger(
        load_trainer("monitoring_lib.example_trainer:train"), split, spec=spec
    )
    champion_scores = score_model(
        champion, split.holdout_features, split.holdout_target, task="binary"
    )
    challenger_scores = score_model(
        challenger, split.holdout_features, split.holdout_target, task="binary"
    )
    result = gate(champion_scores.values, challenger_scores.values, AUC, 0.02)
    assert result.promote, result.reasons
    assert challenger_scores.values[Metric.LOG_LOSS] < champion_scores.values[Metric.LOG_LOSS]
    # The other way round the stationary model does not win on the changed world.
    assert not gate(challenger_scores.values, champion_scores.values, AUC, 0.0).promote


def test_example_trainer_is_deterministic_and_pickles(spec: MonitorSpec) -> None:
    rows = world_rows(800, demo_data.CHANGED, seed=3)
    features = rows[demo_data.NUMERICAL + demo_data.CATEGORICAL]
    first = train(features, rows["defaulted"], spec=spec)
    second = train(features, rows["defaulted"], spec=spec)
    unseen = features.assign(region="atlantis", employment_type=7)  # unseen and mixed types
    np.testing.assert_array_equal(first.predict_proba(unseen), second.predict_proba(unseen))
    restored = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(restored.predict_proba(features), first.predict_proba(features))


def test_example_trainer_fits_a_regression(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size": rng.normal(100, 20, 300), "kind": rng.choice(["a", "b"], 300)})
    price = 3 * frame["size"] + np.where(frame["kind"] == "a", 50.0, 0.0)
    regression = parse_spec(
        {
            "name": "prices",
            "task": "regression",
            "sources": {"predictions": {"path": "p.parquet"}, "reference": {"path": "r.parquet"}},
            "columns": {
                "timestamp": "ts",
                "id": "id",
                "numerical": ["size"],
                "categorical": ["kind"],
                "prediction": "predicted",
                "target": "price",
            },
        },
        base_dir=tmp_path,
    )
    model = train(frame, price, spec=regression)
    scores = score_model(model, frame, price, task="regression")
    assert scores.values[Metric.R2] > 0.99


# --- settings -------------------------------------------------------------------------------


def retrain_settings(**overrides: Any) -> dict[str, Any]:
    return {"trainer": "monitoring_lib.example_trainer:train", "metric": AUC, **overrides}


def test_actions_settings_parse_durations_and_defaults() -> None:
    actions = ActionsSpec.model_validate(
        {
            "retrain": retrain_settings(
                cooldown="3d", approval={"required": True, "timeout": "2h"}
            ),
            "rollback": {"within": "36h"},
        }
    )
    assert actions.retrain is not None
    assert actions.rollback is not None
    assert actions.retrain.cooldown == timedelta(days=3)
    assert actions.retrain.approval.timeout == timedelta(hours=2)
    assert actions.rollback.within == timedelta(hours=36)
    assert actions.rollback.on_severity == "critical"
    assert actions.model_dump(mode="json")["retrain"]["cooldown"] == "3d"


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"trainer": "train"}, "is not a 'module:function' path"),
        ({"metric": "drift.share"}, "cannot gate a promotion"),
        ({"margin": -0.1}, "greater than or equal to 0"),
        ({"holdout_fraction": 1.0}, "less than 1"),
        ({"cooldown": "soon"}, "is not a duration"),
        ({"trainr": "x:y"}, "Extra inputs are not permitted"),
    ],
)
def test_actions_settings_reject_bad_values(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        RetrainSpec.model_validate(retrain_settings(**overrides))


def test_actions_of_reads_the_spec_section_and_checks_the_task(tmp_path: Path) -> None:
    spec = credit_spec(tmp_path)
    with_actions = spec.model_copy(
        update={"actions": type(spec.actions).model_validate({"retrain": retrain_settings()})}
    )
    actions = actions_of(with_actions)
    assert actions.retrain is not None
    assert actions.retrain.metric == AUC
    assert task_problems(actions, "binary") == []
    wrong = ActionsSpec.model_validate({"retrain": retrain_settings(metric=RMSE)})
    assert "is not a binary metric" in task_problems(wrong, spec.task)[0]
