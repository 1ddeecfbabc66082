"""The model registry contract, on the built-in store registry (real PostgreSQL) and, when MLflow is
installed, on MLflow's registry with its local SQLite store.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.actions.registry import (
    CHALLENGER,
    CHAMPION,
    ModelRegistry,
    UnknownVersionError,
    path_of,
)
from monitoring_lib.actions.store_registry import StoreRegistry
from monitoring_lib.io.artifacts import model_folder
from monitoring_lib.store.models import ModelVersion
from monitoring_lib.store.repository import UnknownModelError, ensure_model

pytestmark = pytest.mark.postgres

MODEL = "credit-default"
FEATURES = pd.DataFrame({"x": np.linspace(-2, 2, 40)})
TARGET = (FEATURES["x"] > 0).astype(int)


def fitted(c: float) -> LogisticRegression:
    return LogisticRegression(C=c).fit(FEATURES, TARGET)


@pytest.fixture(params=["store", "mlflow"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ModelRegistry]:
    """The same contract tests run against each implementation."""
    if request.param == "mlflow":
        pytest.importorskip("mlflow", reason="MLflow is an optional extra, not installed here")
        from monitoring_lib.actions.mlflow_registry import MlflowRegistry

        location = (tmp_path / "mlflow-artifacts").as_uri()
        yield MlflowRegistry(f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_location=location)
        return
    sessions: sessionmaker[Session] = request.getfixturevalue("pg_sessions")
    with sessions.begin() as session:
        ensure_model(session, MODEL, "binary")
    with sessions.begin() as session:
        yield StoreRegistry(session, tmp_path / "artifacts")


def test_versions_are_numbered_and_listed_oldest_first(registry: ModelRegistry) -> None:
    first = registry.register(MODEL, fitted(1.0), {"quality.roc_auc": 0.8}, {"trained_on": "ref"})
    second = registry.register(MODEL, fitted(0.1), {"quality.roc_auc": math.nan}, {})
    assert (first, second) == (1, 2)
    listed = registry.versions(MODEL)
    assert [info.version for info in listed] == [1, 2]
    assert listed[0].metrics["quality.roc_auc"] == pytest.approx(0.8)
    assert listed[0].tags["trained_on"] == "ref"
    assert listed[1].metrics.get("quality.roc_auc") is None  # NaN is never stored as a number
    assert not any(info.is_good for info in listed)


def test_a_loaded_version_predicts_like_the_registered_model(registry: ModelRegistry) -> None:
    model = fitted(0.05)
    version = registry.register(MODEL, model, {}, {})
    registry.register(MODEL, fitted(100.0), {}, {})
    loaded = registry.load(MODEL, version)
    np.testing.assert_array_equal(loaded.predict_proba(FEATURES), model.predict_proba(FEATURES))


def test_aliases_point_at_versions_and_move(registry: ModelRegistry) -> None:
    for c in (1.0, 2.0, 3.0):
        registry.register(MODEL, fitted(c), {}, {})
    assert registry.get_alias(MODEL, CHAMPION) is None
    registry.set_alias(MODEL, CHAMPION, 1)
    registry.set_alias(MODEL, CHALLENGER, 3)
    registry.set_alias(MODEL, CHAMPION, 2)
    assert registry.get_alias(MODEL, CHAMPION) == 2
    assert registry.get_alias(MODEL, CHALLENGER) == 3


def test_last_good_is_the_newest_good_version_not_excluded(registry: ModelRegistry) -> None:
    for c in (1.0, 2.0, 3.0):
        registry.register(MODEL, fitted(c), {}, {})
    assert registry.last_good(MODEL) is None
    registry.mark_good(MODEL, 1, True)
    registry.mark_good(MODEL, 2, True)
    assert registry.last_good(MODEL) == 2
    assert registry.last_good(MODEL, excluding=[2]) == 1
    registry.mark_good(MODEL, 2, False)
    assert registry.last_good(MODEL) == 1
    assert [info.is_good for info in registry.versions(MODEL)] == [True, False, False]


# --- the store registry only ----------------------------------------------------------------


def test_model_files_live_under_the_artifact_folder(
    pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with pg_sessions.begin() as session:
        ensure_model(session, "risk / v2", "binary")
        StoreRegistry(session, tmp_path).register("risk / v2", fitted(1.0), {}, {})
    with pg_sessions() as session:
        uri = session.execute(select(ModelVersion.uri)).scalar_one()
    path = path_of(uri)
    assert uri.startswith("file://")
    assert path.parent == model_folder(tmp_path, "risk / v2") / "models"
    assert path.name.startswith("v1-")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left


def test_a_rolled_back_registration_frees_its_number_but_not_its_file(
    pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with pg_sessions.begin() as session:
        ensure_model(session, MODEL, "binary")
    with pg_sessions() as session:
        StoreRegistry(session, tmp_path).register(MODEL, fitted(1.0), {}, {})
        session.rollback()
    with pg_sessions.begin() as session:
        registry = StoreRegistry(session, tmp_path)
        assert registry.register(MODEL, fitted(2.0), {}, {}) == 1
        kept = registry.load(MODEL, 1)
    assert kept.C == 2.0


def test_unknown_models_and_versions_are_named(
    pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with pg_sessions.begin() as session:
        registry = StoreRegistry(session, tmp_path)
        with pytest.raises(UnknownModelError, match="no model named 'ghost'"):
            registry.register("ghost", fitted(1.0), {}, {})
        ensure_model(session, MODEL, "binary")
        with pytest.raises(UnknownVersionError, match="has no version 4"):
            registry.set_alias(MODEL, CHAMPION, 4)


def test_concurrent_registrations_get_distinct_numbers(
    pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with pg_sessions.begin() as session:
        ensure_model(session, MODEL, "binary")
    barrier = threading.Barrier(2)
    versions: list[int] = []
    errors: list[BaseException] = []

    def register(c: float) -> None:
        try:
            with pg_sessions.begin() as session:
                barrier.wait(timeout=10)
                versions.append(StoreRegistry(session, tmp_path).register(MODEL, fitted(c), {}, {}))
        except BaseException as error:  # surfaced below: a thread's failure must fail the test
            errors.append(error)

    threads = [threading.Thread(target=register, args=(c,)) for c in (1.0, 2.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(versions) == [1, 2]
