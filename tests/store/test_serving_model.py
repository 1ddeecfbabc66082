"""The serving model as the first champion, on PostgreSQL: registered once as an external version
with the reference's own quality as its baseline, and scored by the gate from its logged
predictions on the same holdout rows as the challenger."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn import metrics as sk
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from driftwise import cli_models
from monitoring_lib import demo_data
from monitoring_lib.actions import steps
from monitoring_lib.actions.external import (
    EXTERNAL,
    ExternalModelError,
    ServingModel,
    register_if_no_champion,
)
from monitoring_lib.actions.registry import CHAMPION
from monitoring_lib.actions.store_registry import StoreRegistry
from monitoring_lib.actions.training import build_training_set, split_holdout
from monitoring_lib.example_trainer import train
from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.spec.actions import RetrainSpec
from monitoring_lib.windows import window_starting_on
from tests.credit_world import ZONE, credit_spec, reveal_all_labels, write_project

pytestmark = pytest.mark.postgres
NOW = datetime(2024, 5, 4, 1, 30, tzinfo=UTC)
DAYS = [date(2024, 5, 1), date(2024, 5, 2)]


def test_the_serving_model_is_registered_once_with_the_references_quality(
    tmp_path: Path, pg_sessions: sessionmaker[Session]
) -> None:
    spec = credit_spec(write_project(tmp_path, [(DAYS[0], demo_data.STATIONARY)], rows=300))
    artifacts = tmp_path / "artifacts"
    with pg_sessions.begin() as session:
        first = register_if_no_champion(session, StoreRegistry(session, artifacts), spec, now=NOW)
    with pg_sessions.begin() as session:
        again = register_if_no_champion(session, StoreRegistry(session, artifacts), spec, now=NOW)
        registry = StoreRegistry(session, artifacts)
        info = registry.versions(spec.name)[0]
        champion = registry.get_alias(spec.name, CHAMPION)
        stored = registry.load(spec.name, 1)

    assert (first, again, champion) == (1, None, 1)
    reference = load_reference(spec)
    truth, predicted = reference["defaulted"], reference["predicted_default"]
    assert info.metrics["quality.accuracy"] == pytest.approx(sk.accuracy_score(truth, predicted))
    assert info.metrics["quality.roc_auc"] == pytest.approx(
        sk.roc_auc_score(truth, reference["default_probability"])
    )
    assert info.tags["source"] == EXTERNAL
    assert info.tags["reference_rows"] == len(reference)
    interval = info.tags["intervals"]["quality.accuracy"]
    assert interval["ci_method"] == "wilson"
    assert interval["ci_lower"] < info.metrics["quality.accuracy"] < interval["ci_upper"]
    assert isinstance(stored, ServingModel)
    with pytest.raises(ExternalModelError, match="read from the prediction log"):
        stored.predict(reference)


def contest(tmp_path: Path, pg_sessions: sessionmaker[Session], world: demo_data.World) -> object:
    """Two windows of ``world``, every label known; the serving model (which knows the
    stationary world) as champion; a challenger trained on the windows."""
    folder = write_project(tmp_path, [(day, world) for day in DAYS], rows=1_500)
    reveal_all_labels(folder)
    spec = credit_spec(folder)
    frames = [load_window(spec, window_starting_on(d, timedelta(days=1), ZONE)).frame for d in DAYS]
    settings = RetrainSpec(trainer="monitoring_lib.example_trainer:train", metric="quality.roc_auc")
    data = build_training_set(
        frames, features=spec.columns.features, target="defaulted",
        carry=["predicted_default", "default_probability"],
    )  # fmt: skip
    holdout = split_holdout(data, fraction=0.3, seed=0, classification=True)
    challenger = train(holdout.train_features, holdout.train_target, spec=spec)
    with pg_sessions.begin() as session:
        registry = StoreRegistry(session, tmp_path / "artifacts")
        register_if_no_champion(session, registry, spec, now=NOW)
        scored = steps.score_both(registry, spec, challenger, holdout)
        version, result = steps.register_and_gate(
            session, registry, spec, settings, challenger, scored, now=NOW, flow_run_id=None
        )
    logged = holdout.holdout_logged
    assert logged is not None
    expected = sk.roc_auc_score(holdout.holdout_target, logged["default_probability"])
    assert scored.champion is not None
    assert scored.champion.values["quality.roc_auc"] == pytest.approx(expected)
    accuracy = sk.accuracy_score(holdout.holdout_target, logged["predicted_default"])
    assert scored.champion.values["quality.accuracy"] == pytest.approx(accuracy)
    assert scored.champion_version == 1
    assert f"on {len(holdout.holdout_target)} of {len(holdout.holdout_target)} holdout rows" in (
        scored.basis
    )
    assert version == 2
    return result


def test_the_gate_keeps_a_serving_model_no_challenger_beats(
    tmp_path: Path, pg_sessions: sessionmaker[Session]
) -> None:
    result = contest(tmp_path, pg_sessions, demo_data.STATIONARY)
    assert not result.promote  # the serving model knows the stationary world exactly
    assert "not better by the margin" in result.reasons[0]
    assert "scored from its logged predictions" in result.reasons[-1]


def test_the_gate_promotes_a_challenger_that_beats_the_serving_model(
    tmp_path: Path, pg_sessions: sessionmaker[Session]
) -> None:
    result = contest(tmp_path, pg_sessions, demo_data.CHANGED)
    assert result.promote  # the world changed; the challenger learnt it, the serving model not
    assert result.improvement is not None
    assert result.improvement > 0
    assert np.isfinite(result.champion)


def test_models_register_makes_the_serving_model_champion_and_refuses_to_replace_silently(
    tmp_path: Path,
    pg_sessions: sessionmaker[Session],
    pg_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = write_project(tmp_path, [(DAYS[0], demo_data.STATIONARY)], rows=200)
    path = folder / "credit.yaml"
    data = credit_spec(folder).model_dump(mode="json", exclude={"base_dir"})
    data["window"]["length"] = "1d"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv(
        "DRIFTWISE_DATABASE_URL", pg_engine.url.render_as_string(hide_password=False)
    )
    monkeypatch.setattr(cli_models.console, "width", 200)
    runner = CliRunner()

    first = runner.invoke(cli_models.models_app, ["register", str(path)])
    assert first.exit_code == 0, first.output
    assert "the serving model is v1, the champion" in first.output
    assert "v1 champion: external (serving model); accuracy" in first.output
    second = runner.invoke(cli_models.models_app, ["register", str(path)])
    assert second.exit_code == 1
    assert "v1 is the champion already; pass --replace" in second.output
    replaced = runner.invoke(cli_models.models_app, ["register", str(path), "--replace"])
    assert replaced.exit_code == 0, replaced.output
    assert "v1: external (serving model)" in replaced.output
    assert "v2 champion: external (serving model)" in replaced.output
    listed = runner.invoke(cli_models.models_app, ["list", "credit-default"])
    assert [line.split()[0] for line in listed.output.splitlines()] == ["v1", "v2"]
    assert "champion" in listed.output.splitlines()[1]
