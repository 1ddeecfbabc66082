"""Model files cannot be swapped under the registry: a replaced file is refused before a byte of it
is parsed (so a crafted pickle runs nothing), scikit-learn models are written with skops, and a
version registered before hashes were kept is refused until a person vouches for its file.

On the built-in registry (real PostgreSQL) and on MLflow's registry with its local SQLite store.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from driftwise.cli import app
from monitoring_lib import demo_data
from monitoring_lib.actions import steps
from monitoring_lib.actions.model_files import (
    ModelFileError,
    ModelIntegrityError,
    UnverifiedModelError,
)
from monitoring_lib.actions.registry import CHAMPION, ModelRegistry, path_of
from monitoring_lib.actions.store_registry import StoreRegistry
from monitoring_lib.actions.training import build_training_set, split_holdout
from monitoring_lib.example_trainer import train
from monitoring_lib.store.models import ModelVersion
from monitoring_lib.store.repository import ensure_model
from tests.credit_world import credit_spec

pytestmark = pytest.mark.postgres

MODEL = "credit-default"
COLUMNS = demo_data.NUMERICAL + demo_data.CATEGORICAL


class Payload:
    """What an attacker drops in place of a model file: unpickling it runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


class HandMadeModel:
    """A model of a class skops does not know (a user's own): it falls back to joblib."""

    classes_ = np.array([0, 1])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame), dtype=int)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.tile([0.7, 0.3], (len(frame), 1))


def credit_rows(rows: int = 600, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    features = demo_data.applicants(rows, demo_data.STATIONARY, rng)
    outcome = rng.random(rows) < demo_data.default_probability(features, demo_data.STATIONARY)
    return features.assign(defaulted=outcome.astype(int))


def pipeline(tmp_path: Path, seed: int = 1) -> Any:
    rows = credit_rows(seed=seed)
    return train(rows[COLUMNS], rows["defaulted"], spec=credit_spec(tmp_path))


class Registries:
    """One registry implementation, opened afresh per step as the flows do."""

    def __init__(self, kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        self.kind, self.tmp_path = kind, tmp_path
        if kind == "mlflow":
            pytest.importorskip("mlflow", reason="MLflow is an optional extra, not installed here")
            from monitoring_lib.actions.mlflow_registry import MlflowRegistry

            self.mlflow = MlflowRegistry(
                f"sqlite:///{tmp_path / 'mlflow.db'}",
                artifact_location=(tmp_path / "mlflow-artifacts").as_uri(),
            )
            return
        self.sessions: sessionmaker[Session] = request.getfixturevalue("pg_sessions")
        with self.sessions.begin() as session:
            ensure_model(session, MODEL, "binary")

    @contextlib.contextmanager
    def use(self) -> Iterator[ModelRegistry]:
        if self.kind == "mlflow":
            yield self.mlflow
            return
        with self.sessions.begin() as session:
            yield StoreRegistry(session, self.tmp_path / "artifacts")

    def file_of(self, version: int) -> Path:
        """Where the version's bytes lie (the file an attacker would replace)."""
        with self.use() as registry:
            [info] = [i for i in registry.versions(MODEL) if i.version == version]
        if self.kind == "mlflow":
            [found] = list(path_of(info.uri).glob("model.*"))
            return found
        return path_of(info.uri)


@pytest.fixture(params=["store", "mlflow"])
def registries(request: pytest.FixtureRequest, tmp_path: Path) -> Registries:
    return Registries(request.param, tmp_path, request)


def register(registries: Registries, model: Any) -> int:
    with registries.use() as registry:
        return registry.register(MODEL, model, {}, {})


def test_a_crafted_pickle_in_place_of_a_model_file_is_refused_and_runs_nothing(
    registries: Registries, tmp_path: Path
) -> None:
    version = register(registries, pipeline(tmp_path))
    marker = tmp_path / "pwned"
    registries.file_of(version).write_bytes(pickle.dumps(Payload(marker)))
    with registries.use() as registry, pytest.raises(ModelIntegrityError, match="replaced"):
        registry.load(MODEL, version)
    assert not marker.exists()


def test_another_genuine_model_file_in_its_place_is_refused_too(
    registries: Registries, tmp_path: Path
) -> None:
    first = register(registries, pipeline(tmp_path, seed=1))
    second = register(registries, pipeline(tmp_path, seed=2))
    registries.file_of(first).write_bytes(registries.file_of(second).read_bytes())
    with registries.use() as registry:
        with pytest.raises(ModelIntegrityError, match=rf"version {first}.*registered"):
            registry.load(MODEL, first)
        assert registry.load(MODEL, second) is not None


def test_the_retrain_flow_scoring_a_swapped_champion_stops_before_loading_it(
    registries: Registries, tmp_path: Path
) -> None:
    spec = credit_spec(tmp_path)
    rows = credit_rows()
    version = register(registries, pipeline(tmp_path))
    with registries.use() as registry:
        registry.set_alias(MODEL, CHAMPION, version)
    marker = tmp_path / "pwned"
    registries.file_of(version).write_bytes(pickle.dumps(Payload(marker)))
    training = build_training_set([rows], features=COLUMNS, target="defaulted")
    holdout = split_holdout(training, fraction=0.25, seed=0, classification=True)
    with registries.use() as registry, pytest.raises(ModelIntegrityError):
        steps.score_both(registry, spec, pipeline(tmp_path, seed=3), holdout)
    assert not marker.exists()


def test_scikit_learn_pipelines_are_written_with_skops_and_load_back(
    registries: Registries, tmp_path: Path
) -> None:
    model = pipeline(tmp_path)
    version = register(registries, model)
    path = registries.file_of(version)
    assert path.suffix == ".skops"
    assert not path.read_bytes().startswith(b"\x80")  # a zip archive, not a pickle stream
    with registries.use() as registry:
        loaded = registry.load(MODEL, version)
        [info] = registry.versions(MODEL)
    frame = credit_rows(50, seed=9)[COLUMNS]
    np.testing.assert_array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    assert info.sha256 is not None
    assert len(info.sha256) == 64


def test_a_model_skops_does_not_trust_falls_back_to_a_hash_checked_joblib_file(
    registries: Registries, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        version = register(registries, HandMadeModel())
    assert registries.file_of(version).suffix == ".joblib"
    assert "HandMadeModel" in caplog.text
    assert "DRIFTWISE_MODEL_TRUSTED_TYPES" in caplog.text
    with registries.use() as registry:
        assert isinstance(registry.load(MODEL, version), HandMadeModel)
    marker = tmp_path / "pwned"
    registries.file_of(version).write_bytes(pickle.dumps(Payload(marker)))
    with registries.use() as registry, pytest.raises(ModelIntegrityError):
        registry.load(MODEL, version)
    assert not marker.exists()


def test_types_a_user_trusts_are_written_with_skops(
    pg_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    trusted = [f"{HandMadeModel.__module__}.HandMadeModel"]
    with pg_sessions.begin() as session:
        ensure_model(session, MODEL, "binary")
        registry = StoreRegistry(session, tmp_path, trusted_types=trusted)
        version = registry.register(MODEL, HandMadeModel(), {}, {})
        assert isinstance(registry.load(MODEL, version), HandMadeModel)
        path = path_of(registry.versions(MODEL)[0].uri)
    assert path.suffix == ".skops"
    untrusting = pytest.raises(ModelFileError, match="DRIFTWISE_MODEL_TRUSTED_TYPES")
    with pg_sessions.begin() as session, untrusting:  # a reader that does not trust it refuses
        StoreRegistry(session, tmp_path).load(MODEL, version)


def test_a_version_without_a_hash_is_refused_until_a_person_trusts_it(
    pg_sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Versions registered before hashes were kept: NULL after the migration."""
    with pg_sessions.begin() as session:
        ensure_model(session, MODEL, "binary")
        StoreRegistry(session, tmp_path / "artifacts").register(MODEL, pipeline(tmp_path), {}, {})
        session.execute(update(ModelVersion).values(content_sha256=None))
    with pg_sessions.begin() as session:
        registry = StoreRegistry(session, tmp_path / "artifacts")
        with pytest.raises(
            UnverifiedModelError, match=r"driftwise models trust 'credit-default' 1"
        ):
            registry.load(MODEL, 1)
    url = pg_sessions.kw["bind"].url.render_as_string(hide_password=False)
    monkeypatch.setenv("DRIFTWISE_ARTIFACT_DIR", str(tmp_path / "artifacts"))
    listed = CliRunner().invoke(app, ["models", "list", MODEL, "--url", url])
    assert listed.exit_code == 0, listed.output
    assert "UNVERIFIED" in listed.output
    trusted = CliRunner().invoke(app, ["models", "trust", MODEL, "1", "--url", url])
    assert trusted.exit_code == 0, trusted.output
    assert "sha256" in trusted.output
    with pg_sessions.begin() as session:
        assert StoreRegistry(session, tmp_path / "artifacts").load(MODEL, 1) is not None
    missing = CliRunner().invoke(app, ["models", "trust", MODEL, "7", "--url", url])
    assert missing.exit_code == 1
    assert "has no version 7" in missing.output


@pytest.mark.parametrize(
    "name",
    ["../../../tmp/x'); DROP TABLE model_versions;--", "</script><script>alert(1)</script>",
     "nul\x00byte", "emoji 📉 / ünï"],
)  # fmt: skip
def test_hostile_model_names_are_data_and_their_files_stay_in_the_artifact_folder(
    pg_sessions: sessionmaker[Session], tmp_path: Path, name: str
) -> None:
    artifacts = tmp_path / "artifacts"
    with pg_sessions.begin() as session:
        ensure_model(session, name, "binary")
        registry = StoreRegistry(session, artifacts)
        version = registry.register(name, HandMadeModel(), {}, {"note": name})
        registry.set_alias(name, CHAMPION, version)
    with pg_sessions() as session:
        registry = StoreRegistry(session, artifacts)
        assert isinstance(
            registry.load(name, registry.get_alias(name, CHAMPION) or 0), HandMadeModel
        )
        [info] = registry.versions(name)
        tables = session.execute(text("SELECT count(*) FROM model_versions")).scalar_one()
    assert tables == 1
    assert info.tags == {"note": name.replace("\x00", "\\x00")}
    assert path_of(info.uri).resolve().is_relative_to(artifacts.resolve())
