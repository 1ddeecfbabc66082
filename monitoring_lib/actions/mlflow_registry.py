"""The model registry on MLflow: versions, aliases and the 'good' tag in an MLflow server.

Optional (``pip install driftwise[mlflow]``); imported only when a user picks it."""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib

from monitoring_lib.actions.registry import VersionInfo, finite_metrics, write_model_file

GOOD_TAG = "driftwise.good"
"""Version tag that carries the 'good' mark in MLflow ('true' / 'false')."""


class MlflowRegistry:
    """MLflow's model registry (the optional ``mlflow`` extra), e.g. ``sqlite:///mlflow.db``.

    Each version is an MLflow run holding the pickled model as the artifact ``model/model.joblib``
    and the metrics as run metrics; the good mark is the version tag ``driftwise.good``.
    """

    def __init__(
        self,
        tracking_uri: str,
        *,
        experiment: str = "driftwise",
        artifact_location: str | None = None,
    ) -> None:
        try:
            tracking = importlib.import_module("mlflow.tracking")
        except ImportError:
            raise ImportError(
                "MlflowRegistry needs MLflow, an optional extra: pip install 'mlflow-skinny>=3,<4'"
            ) from None
        self.tracking_uri = tracking_uri
        self.client: Any = tracking.MlflowClient(
            tracking_uri=tracking_uri, registry_uri=tracking_uri
        )
        self.experiment = experiment
        self.artifact_location = artifact_location

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        created = self.client.create_experiment(
            self.experiment, artifact_location=self.artifact_location
        )
        return str(created)

    def _ensure_registered(self, model_name: str) -> None:
        if not self.client.search_registered_models(filter_string=_name_filter(model_name)):
            self.client.create_registered_model(model_name)

    def register(
        self,
        model_name: str,
        model_object: Any,
        metrics: Mapping[str, float | None],
        tags: Mapping[str, Any],
    ) -> int:
        run = self.client.create_run(self._experiment_id(), run_name=model_name)
        run_id = run.info.run_id
        for name, value in finite_metrics(metrics).items():
            if value is not None:
                self.client.log_metric(run_id, name, value)
        with tempfile.TemporaryDirectory() as folder:
            path = write_model_file(model_object, Path(folder) / "model.joblib")
            self.client.log_artifact(run_id, str(path), artifact_path="model")
        self.client.set_terminated(run_id)
        self._ensure_registered(model_name)
        created = self.client.create_model_version(
            model_name,
            source=f"{run.info.artifact_uri}/model",
            run_id=run_id,
            tags={**{key: str(value) for key, value in tags.items()}, GOOD_TAG: "false"},
        )
        return int(created.version)

    def load(self, model_name: str, version: int) -> Any:
        artifacts = importlib.import_module("mlflow.artifacts")
        source = self.client.get_model_version(model_name, str(version)).source
        local = artifacts.download_artifacts(
            artifact_uri=f"{source}/model.joblib", tracking_uri=self.tracking_uri
        )
        return joblib.load(local)

    def get_alias(self, model_name: str, alias: str) -> int | None:
        if not self.client.search_registered_models(filter_string=_name_filter(model_name)):
            return None
        aliases: dict[str, Any] = self.client.get_registered_model(model_name).aliases
        return int(aliases[alias]) if alias in aliases else None

    def set_alias(self, model_name: str, alias: str, version: int) -> None:
        self.client.set_registered_model_alias(model_name, alias, str(version))

    def mark_good(self, model_name: str, version: int, good: bool) -> None:
        self.client.set_model_version_tag(model_name, str(version), GOOD_TAG, str(good).lower())

    def versions(self, model_name: str) -> list[VersionInfo]:
        found = self.client.search_model_versions(filter_string=_name_filter(model_name))
        return sorted((self._info(item) for item in found), key=lambda info: info.version)

    def _info(self, item: Any) -> VersionInfo:
        tags = {key: value for key, value in item.tags.items() if key != GOOD_TAG}
        metrics = self.client.get_run(item.run_id).data.metrics if item.run_id else {}
        return VersionInfo(
            model_name=item.name,
            version=int(item.version),
            uri=item.source,
            metrics=dict(metrics),
            tags=tags,
            is_good=item.tags.get(GOOD_TAG) == "true",
            created_at=datetime.fromtimestamp(item.creation_timestamp / 1000, UTC),
        )

    def last_good(self, model_name: str, excluding: Collection[int] = ()) -> int | None:
        good = [
            info.version
            for info in self.versions(model_name)
            if info.is_good and info.version not in excluding
        ]
        return max(good, default=None)


def _name_filter(model_name: str) -> str:
    escaped = model_name.replace("\\", "\\\\").replace("'", "\\'")
    return f"name = '{escaped}'"
