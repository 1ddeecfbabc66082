"""The metric store and model registry as tasks open them: one place reads the settings."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.actions.store_registry import StoreRegistry
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.store.engine import open_store


def store_sessions() -> sessionmaker[Session]:
    """Sessions on the store the settings name (one engine per URL, shared across tasks)."""
    return open_store(DriftwiseSettings().store_url)


def model_registry(session: Session) -> StoreRegistry:
    """The built-in registry on ``session``, with model files under the artifact folder."""
    settings = DriftwiseSettings()
    return StoreRegistry(session, settings.artifacts, settings.model_trusted_types)
