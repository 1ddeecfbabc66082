from __future__ import annotations

from pathlib import Path

import pytest

from monitoring_lib.settings import DriftwiseSettings, safe_url

SECRETS = {
    "DRIFTWISE_DATABASE_URL": "postgresql+psycopg2://svc:pg-s3cret@db.internal:5432/metrics",
    "DRIFTWISE_SLACK_TOKEN": "xoxb-123-456-abcdefSECRET",
    "DRIFTWISE_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/HOOKSECRET",
}


def test_default_store_is_a_sqlite_file_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTWISE_HOME", str(tmp_path / "data"))
    settings = DriftwiseSettings()
    assert settings.store_url.get_backend_name() == "sqlite"
    assert settings.store_url.database == str(tmp_path / "data" / "driftwise.db")
    assert settings.artifacts == tmp_path / "data" / "artifacts"


def test_database_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTWISE_DATABASE_URL", SECRETS["DRIFTWISE_DATABASE_URL"])
    assert DriftwiseSettings().store_url.host == "db.internal"


def test_secrets_never_show_in_repr_or_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = DriftwiseSettings()
    shown = repr(settings) + str(settings) + str(settings.model_dump()) + settings.model_dump_json()
    for needle in ("pg-s3cret", "abcdefSECRET", "HOOKSECRET"):
        assert needle not in shown
    assert settings.slack_token is not None
    assert settings.slack_token.get_secret_value() == SECRETS["DRIFTWISE_SLACK_TOKEN"]


def test_safe_url_masks_the_password() -> None:
    shown = safe_url(SECRETS["DRIFTWISE_DATABASE_URL"])
    assert "pg-s3cret" not in shown
    assert shown == "postgresql+psycopg2://svc:***@db.internal:5432/metrics"


def test_profile_workers_follow_the_cores_this_process_may_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    assert DriftwiseSettings().profile_workers == 4
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})
    assert DriftwiseSettings().profile_workers == 1
    monkeypatch.setenv("DRIFTWISE_PROFILE_WORKERS", "3")
    assert DriftwiseSettings().profile_workers == 3
    monkeypatch.setenv("DRIFTWISE_PROFILE_WORKERS", "0")
    with pytest.raises(ValueError, match="profile_workers"):
        DriftwiseSettings()
