"""One Prefect test server per session (it takes ~15 s to start), in a temporary PREFECT_HOME."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="driftwise-prefect-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_TO_API_BATCH_INTERVAL"] = "0.3"

from prefect.testing.utilities import prefect_test_harness
from sqlalchemy import Engine


@pytest.fixture(scope="session", autouse=True)
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def pg_store(pg_engine: Engine, pg_sessions: object, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Flows in this test write to the session's migrated PostgreSQL store, emptied first."""
    monkeypatch.setenv(
        "DRIFTWISE_DATABASE_URL", pg_engine.url.render_as_string(hide_password=False)
    )
    return pg_engine
