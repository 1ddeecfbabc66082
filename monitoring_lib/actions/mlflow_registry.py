"""The model registry on MLflow: versions, aliases and the 'good' tag in an MLflow server.

Optional (``pip install driftwise[mlflow]``); imported only when a user picks it."""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitoring_lib.actions.model_files import (
    FORMATS,
    deserialise,
    serialise,
    sha256_of,
    write_atomically,
)
from monitoring_lib.actions.registry import VersionInfo, finite_metrics

GOOD_TAG = "driftwise.good"
"""Version tag that carries the 'good' mark in MLflow ('true' / 'false')."""
SHA256_TAG = "driftwise.sha256"
"""Version tag with the model file's sha256, checked before loading."""
FORMAT_TAG = "driftwise.format"
"""Version tag naming the file's format: the artifact is ``model/model.<format>``."""
_OWN_TAGS = (GOOD_TAG, SHA256_TAG, FORMAT_TAG)


class MlflowRegistry:
    """MLflow's model registry (the optional ``mlflow`` extra), e.g. ``sqlite:///mlflow.db``.

    Each version is an MLflow run holding the model as the artifact ``model/model.skops`` (or
    ``model.joblib`` when skops cannot hold it) and the metrics as run metrics; version tags carry
    the good mark (``driftwise.good``), the file's sha256 and its format. The sha256 lives in the
    registry, the file in the artifact store: a file replaced there is refused at load.
    """

    def __init__(
        self,
        tracking_uri: str,
        *,
        experiment: str = "driftwise",
        artifact_location: str | None = None,
        trusted_types: Collection[str] = (),
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
        self.trusted_types = tuple(trusted_types)

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
        saved = serialise(model_object, self.trusted_types)
        with tempfile.TemporaryDirectory() as folder:
            path = write_atomically(saved.data, Path(folder) / f"model.{saved.format}")
            self.client.log_artifact(run_id, str(path), artifact_path="model")
        self.client.set_terminated(run_id)
        self._ensure_registered(model_name)
        own = {GOOD_TAG: "false", SHA256_TAG: saved.sha256, FORMAT_TAG: saved.format}
        created = self.client.create_model_version(
            model_name,
            source=f"{run.info.artifact_uri}/model",
            run_id=run_id,
            tags={**{key: str(value) for key, value in tags.items()}, **own},
        )
        return int(created.version)

    def _download(self, model_name: str, version: int) -> tuple[Any, str, bytes]:
        """The version, its file format and the file's bytes as the artifact store has them."""
        artifacts = importlib.import_module("mlflow.artifacts")
        item = self.client.get_model_version(model_name, str(version))
        file_format = item.tags.get(FORMAT_TAG, "joblib")  # the only format before the tag
        if file_format not in FORMATS:
            file_format = "joblib"
        with tempfile.TemporaryDirectory() as folder:
            local = artifacts.download_artifacts(
                artifact_uri=f"{item.source}/model.{file_format}",
                tracking_uri=self.tracking_uri,
                dst_path=folder,
            )
            return item, file_format, Path(local).read_bytes()

    def load(self, model_name: str, version: int) -> Any:
        item, file_format, data = self._download(model_name, version)
        what = f"MLflow model {model_name!r} version {version} ({item.source})"
        if SHA256_TAG not in item.tags:
            what += (
                ", registered before driftwise checked model files: if the file is the one you"
                f" registered, call MlflowRegistry.trust({model_name!r}, {version})"
            )
        return deserialise(
            data,
            file_format=file_format,
            sha256=item.tags.get(SHA256_TAG),
            what=what,
            trusted=self.trusted_types,
        )

    def trust(self, model_name: str, version: int) -> str:
        """Tag the version with the sha256 of its file as it is now (for versions registered
        before files were checked, after a person vouched for the file); returns the hash."""
        _item, file_format, data = self._download(model_name, version)
        digest = sha256_of(data)
        self.client.set_model_version_tag(model_name, str(version), SHA256_TAG, digest)
        self.client.set_model_version_tag(model_name, str(version), FORMAT_TAG, file_format)
        return digest

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
        tags = {key: value for key, value in item.tags.items() if key not in _OWN_TAGS}
        metrics = self.client.get_run(item.run_id).data.metrics if item.run_id else {}
        return VersionInfo(
            model_name=item.name,
            version=int(item.version),
            uri=item.source,
            metrics=dict(metrics),
            tags=tags,
            is_good=item.tags.get(GOOD_TAG) == "true",
            created_at=datetime.fromtimestamp(item.creation_timestamp / 1000, UTC),
            sha256=item.tags.get(SHA256_TAG),
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
