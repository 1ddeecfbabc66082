"""The model registry behind one interface: versions, aliases and a 'good' mark per version.

Two implementations: ``StoreRegistry`` keeps metadata in the metric store (tables
``model_versions`` and ``model_aliases``) and model files under the artifact folder;
``MlflowRegistry`` uses MLflow's model registry (an optional extra: ``pip install mlflow-skinny``).

Aliases: ``champion`` is the version that serves, ``challenger`` the latest candidate. A version is
marked *good* once it has served without a critical degradation; rollback returns to the latest
good version. Model files are written with skops where the model allows it (joblib otherwise),
and every file's sha256 is registered with its version and checked before loading
(``actions.model_files``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

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
    sha256: str | None = None
    """The model file's registered hash; None: registered before files were checked."""


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

    def load(self, model_name: str, version: int) -> Any:
        """The version's model, once its file's sha256 matched the registered one."""
        ...

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


def path_of(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"model uri {uri!r} is not a local file")
    return Path(unquote(parsed.path)) if parsed.scheme else Path(uri)
