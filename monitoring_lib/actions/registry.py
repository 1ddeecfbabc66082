"""The model registry behind one interface: versions, aliases and a 'good' mark per version.

Two implementations: ``StoreRegistry`` keeps metadata in the metric store (tables
``model_versions`` and ``model_aliases``) and model files under the artifact folder;
``MlflowRegistry`` uses MLflow's model registry (an optional extra: ``pip install mlflow-skinny``).

Aliases: ``champion`` is the version that serves, ``challenger`` the latest candidate. A version is
marked *good* once it has served without a critical degradation; rollback returns to the latest
good version. Model files are pickles (joblib): load only files a registry wrote itself.
"""

from __future__ import annotations

import importlib
import math
import os
import tempfile
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

import joblib
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitoring_lib.io.artifacts import model_folder
from monitoring_lib.store.models import ModelAlias, ModelVersion, utcnow
from monitoring_lib.store.repository import _insert, require_model_id

CHAMPION = "champion"
CHALLENGER = "challenger"


class UnknownVersionError(LookupError):
    """The registry was asked about a version it never registered."""


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as a registry describes it."""

    model_name: str
    version: int
    uri: str
    metrics: dict[str, float | None] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    is_good: bool = False
    created_at: datetime | None = None


class ModelRegistry(Protocol):
    """What retraining, promotion and rollback need from a model registry."""

    def register(
        self,
        model_name: str,
        model_object: Any,
        metrics: Mapping[str, float | None],
        tags: Mapping[str, Any],
    ) -> int:
        """Store a new version (numbered 1, 2, ... per model) and return its number."""
        ...

    def load(self, model_name: str, version: int) -> Any: ...

    def get_alias(self, model_name: str, alias: str) -> int | None: ...

    def set_alias(self, model_name: str, alias: str, version: int) -> None: ...

    def mark_good(self, model_name: str, version: int, good: bool) -> None: ...

    def versions(self, model_name: str) -> list[VersionInfo]:
        """Every version, oldest first."""
        ...

    def last_good(self, model_name: str, excluding: Collection[int] = ()) -> int | None:
        """The highest-numbered version marked good, skipping ``excluding``."""
        ...


def finite_metrics(metrics: Mapping[str, float | None]) -> dict[str, float | None]:
    """Metrics fit for JSON: NaN and infinities become None (PostgreSQL JSONB rejects NaN)."""
    return {
        str(name): float(value) if value is not None and math.isfinite(value) else None
        for name, value in metrics.items()
    }


def write_model_file(model_object: Any, path: Path) -> Path:
    """Pickle atomically (temp file + rename): a reader never sees half a model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            joblib.dump(model_object, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return path


def path_of(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"model uri {uri!r} is not a local file")
    return Path(unquote(parsed.path)) if parsed.scheme else Path(uri)


class StoreRegistry:
    """The built-in registry: rows in the metric store, files under ``artifacts``.

    Works inside the caller's session and transaction, so registering, moving an alias and
    recording the action that did it commit together. The model must have a row in ``models``
    (``repository.ensure_model``).
    """

    def __init__(self, session: Session, artifacts: Path) -> None:
        self.session = session
        self.artifacts = artifacts

    def _model_id(self, model_name: str, *, lock: bool = False) -> int:
        # Locking the model's row numbers concurrent registrations one after the other.
        return require_model_id(self.session, model_name, lock=lock)

    def _row(self, model_name: str, version: int) -> ModelVersion:
        query = select(ModelVersion).where(
            ModelVersion.model_id == self._model_id(model_name), ModelVersion.version == version
        )
        row = self.session.execute(query).scalar_one_or_none()
        if row is None:
            raise UnknownVersionError(f"model {model_name!r} has no version {version}")
        return row

    def register(
        self,
        model_name: str,
        model_object: Any,
        metrics: Mapping[str, float | None],
        tags: Mapping[str, Any],
    ) -> int:
        model_id = self._model_id(model_name, lock=True)
        latest = self.session.execute(
            select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model_id)
        ).scalar_one()
        version = (latest or 0) + 1
        # A unique suffix: a rolled-back registration never overwrites a committed version's file.
        name = f"v{version}-{uuid.uuid4().hex[:8]}.joblib"
        path = write_model_file(
            model_object, model_folder(self.artifacts, model_name) / "models" / name
        )
        self.session.add(
            ModelVersion(
                model_id=model_id,
                version=version,
                uri=path.resolve().as_uri(),
                metrics=finite_metrics(metrics),
                tags=dict(tags),
                is_good=False,
                created_at=utcnow(),
            )
        )
        self.session.flush()
        return version

    def load(self, model_name: str, version: int) -> Any:
        return joblib.load(path_of(self._row(model_name, version).uri))

    def get_alias(self, model_name: str, alias: str) -> int | None:
        query = (
            select(ModelVersion.version)
            .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
            .where(ModelAlias.model_id == self._model_id(model_name), ModelAlias.alias == alias)
        )
        return self.session.execute(query).scalar_one_or_none()

    def set_alias(self, model_name: str, alias: str, version: int) -> None:
        row = self._row(model_name, version)
        statement = _insert(self.session)(ModelAlias).values(
            model_id=row.model_id, alias=alias, version_id=row.id, updated_at=utcnow()
        )
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["model_id", "alias"],
                set_={"version_id": row.id, "updated_at": statement.excluded.updated_at},
            )
        )

    def mark_good(self, model_name: str, version: int, good: bool) -> None:
        row = self._row(model_name, version)
        self.session.execute(
            update(ModelVersion).where(ModelVersion.id == row.id).values(is_good=good)
        )

    def versions(self, model_name: str) -> list[VersionInfo]:
        query = (
            select(ModelVersion)
            .where(ModelVersion.model_id == self._model_id(model_name))
            .order_by(ModelVersion.version)
        )
        return [_info(model_name, row) for row in self.session.execute(query).scalars()]

    def last_good(self, model_name: str, excluding: Collection[int] = ()) -> int | None:
        query = select(func.max(ModelVersion.version)).where(
            ModelVersion.model_id == self._model_id(model_name), ModelVersion.is_good.is_(True)
        )
        if excluding:
            query = query.where(ModelVersion.version.not_in(list(excluding)))
        return self.session.execute(query).scalar_one()


def _info(model_name: str, row: ModelVersion) -> VersionInfo:
    return VersionInfo(
        model_name=model_name,
        version=row.version,
        uri=row.uri,
        metrics=dict(row.metrics or {}),
        tags=dict(row.tags or {}),
        is_good=row.is_good,
        created_at=row.created_at,
    )


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
