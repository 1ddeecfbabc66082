"""One window through every stage, on realistic synthetic credit data."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from monitoring_lib import demo_data
from monitoring_lib.io.artifacts import model_folder
from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.stages import WindowEvaluation
from monitoring_lib.records import Metric, MetricStatus
from monitoring_lib.windows import window_starting_on
from tests.credit_world import ZONE, credit_spec, write_project

STABLE_DAY, CHANGED_DAY, EMPTY_DAY = date(2024, 5, 1), date(2024, 5, 2), date(2024, 6, 1)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    days = [(STABLE_DAY, demo_data.STATIONARY), (CHANGED_DAY, demo_data.CHANGED)]
    return write_project(tmp_path_factory.mktemp("credit"), days)


def run(folder: Path, day: date, artifacts: Path) -> WindowEvaluation:
    spec = credit_spec(folder, name="credit 'default' 🚀")
    window = window_starting_on(day, timedelta(days=1), ZONE)
    return evaluate_window(
        spec, load_window(spec, window), load_reference(spec), artifacts=artifacts
    )


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="module")
def stable(project: Path, artifacts: Path) -> WindowEvaluation:
    return run(project, STABLE_DAY, artifacts)


@pytest.fixture(scope="module")
def changed(project: Path, artifacts: Path) -> WindowEvaluation:
    return run(project, CHANGED_DAY, artifacts)


def drifted(evaluation: WindowEvaluation) -> set[str]:
    return {
        r.column
        for r in evaluation.records
        if r.metric == Metric.DRIFT_SCORE and r.segment == "" and r.status is MetricStatus.DRIFT
    }


def test_every_family_is_recorded_once(stable: WindowEvaluation) -> None:
    keys = [r.key for r in stable.records]
    assert len(keys) == len(set(keys))
    families = {r.metric.split(".")[0] for r in stable.records}
    assert {
        "window",
        "schema",
        "profile",
        "dq",
        "drift",
        "prediction_drift",
        "target_drift",
        "quality",
        "labels",
    } <= families
    assert stable.by_key()[(Metric.ROW_COUNT, "", "")].value == 2_000
    assert any(r.segment == "region=north" for r in stable.records)


def test_a_stationary_day_is_quiet(stable: WindowEvaluation) -> None:
    assert drifted(stable) == set()
    assert stable.by_key()[(Metric.DRIFT_SHARE, "", "")].status is MetricStatus.OK
    failed = [
        r
        for r in stable.records
        if r.metric.startswith(("dq.", "schema.")) and r.status is MetricStatus.FAILED
    ]
    assert failed == []


def test_the_change_is_detected(stable: WindowEvaluation, changed: WindowEvaluation) -> None:
    assert {"income", "debt_to_income", "loan_purpose"} <= drifted(changed)
    assert "region" not in drifted(changed)
    new_category = changed.by_key()[(Metric.DQ_ALLOWED_CATEGORIES, "loan_purpose", "")]
    assert new_category.status is MetricStatus.FAILED
    auc = (Metric.ROC_AUC, "", "")
    assert changed.by_key()[auc].value < stable.by_key()[auc].value - 0.03


def test_quality_uses_the_labels_present(stable: WindowEvaluation) -> None:
    coverage = stable.by_key()[(Metric.LABEL_COVERAGE, "", "")]
    assert coverage.value == pytest.approx(0.5, abs=0.01)


def test_artifacts_are_written(stable: WindowEvaluation, artifacts: Path) -> None:
    folder = model_folder(artifacts, "credit 'default' 🚀")
    assert stable.profile_path is not None
    assert stable.profile_path.parent == folder / "profiles"
    assert stable.report_path is not None
    assert stable.report_path.read_text().lstrip().startswith("<")
    assert stable.report_rows == 2_000
    assert set(stable.timings) >= {"profile", "drift", "quality", "report"}


def test_reference_profile_is_computed_once(
    stable: WindowEvaluation, changed: WindowEvaluation
) -> None:
    assert stable.reference_profile.path == changed.reference_profile.path
    assert stable.reference_profile.row_count == 8_000


def test_an_empty_window_gives_statuses_not_errors(project: Path, artifacts: Path) -> None:
    evaluation = run(project, EMPTY_DAY, artifacts)
    rows = evaluation.by_key()[(Metric.ROW_COUNT, "", "")]
    assert rows.status is MetricStatus.INSUFFICIENT_DATA
    assert evaluation.report_path is None
    share = evaluation.by_key()[(Metric.DRIFT_SHARE, "", "")]
    assert share.status is MetricStatus.INSUFFICIENT_DATA
