"""The built-in model registry: versions and aliases in the metric store, files in the artifact
folder. Works with SQLite and PostgreSQL alike and needs no other server."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitoring_lib.actions.model_files import (
    deserialise,
    format_of,
    serialise,
    sha256_of,
    write_atomically,
)
from monitoring_lib.actions.registry import (
    UnknownVersionError,
    VersionInfo,
    finite_metrics,
    path_of,
)
from monitoring_lib.io.artifacts import model_folder
from monitoring_lib.store.models import ModelAlias, ModelVersion, utcnow
from monitoring_lib.store.repository import dialect_insert, require_model_id


class StoreRegistry:
    """The built-in registry: rows in the metric store, files under ``artifacts``.

    Works inside the caller's session and transaction, so registering, moving an alias and
    recording the action that did it commit together. The model must have a row in ``models``
    (``repository.ensure_model``).
    """

    def __init__(
        self, session: Session, artifacts: Path, trusted_types: Collection[str] = ()
    ) -> None:
        self.session = session
        self.artifacts = artifacts
        self.trusted_types = tuple(trusted_types)
        """Types skops may rebuild besides its own list (``DRIFTWISE_MODEL_TRUSTED_TYPES``)."""

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
        saved = serialise(model_object, self.trusted_types)
        # A unique suffix: a rolled-back registration never overwrites a committed version's file.
        name = f"v{version}-{uuid.uuid4().hex[:8]}.{saved.format}"
        path = write_atomically(
            saved.data, model_folder(self.artifacts, model_name) / "models" / name
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
                content_sha256=saved.sha256,
            )
        )
        self.session.flush()
        return version

    def load(self, model_name: str, version: int) -> Any:
        row = self._row(model_name, version)
        path = path_of(row.uri)
        what = f"model {model_name!r} version {version} ({path})"
        if row.content_sha256 is None:
            what += (
                ", registered before driftwise checked model files: if the file is the one you"
                f" registered, run `driftwise models trust {model_name!r} {version}`"
            )
        return deserialise(
            path.read_bytes(),
            file_format=format_of(path),
            sha256=row.content_sha256,
            what=what,
            trusted=self.trusted_types,
        )

    def trust(self, model_name: str, version: int) -> str:
        """Register the sha256 of the version's file as it is now (for versions registered
        before files were checked, after a person vouched for the file); returns the hash."""
        row = self._row(model_name, version)
        digest = sha256_of(path_of(row.uri).read_bytes())
        self.session.execute(
            update(ModelVersion).where(ModelVersion.id == row.id).values(content_sha256=digest)
        )
        return digest

    def get_alias(self, model_name: str, alias: str) -> int | None:
        query = (
            select(ModelVersion.version)
            .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
            .where(ModelAlias.model_id == self._model_id(model_name), ModelAlias.alias == alias)
        )
        return self.session.execute(query).scalar_one_or_none()

    def set_alias(self, model_name: str, alias: str, version: int) -> None:
        row = self._row(model_name, version)
        statement = dialect_insert(self.session)(ModelAlias).values(
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
        sha256=row.content_sha256,
    )
