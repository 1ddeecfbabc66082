"""Runtime settings: one object, read from ``DRIFTWISE_*`` environment variables (or ``.env``).

Secrets (database URL, Slack token and webhook URL) are ``SecretStr`` so that a repr, a log line or
a validation error shows ``**********`` instead of the value.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url


def _default_profile_workers() -> int:
    """Cores this process may use (its CPU affinity where the OS has one), at most four."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 4))


class DriftwiseSettings(BaseSettings):
    """Where driftwise keeps its data and how it reaches outside services."""

    model_config = SettingsConfigDict(
        env_prefix="DRIFTWISE_", env_file=".env", extra="ignore", frozen=True
    )

    home: Path = Field(
        default=Path(".driftwise"),
        description="Local data folder: the embedded SQLite store and, by default, the artifacts.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the metric store, e.g. "
            "postgresql+psycopg2://user:pass@host:5432/db. Default: a SQLite file in `home`."
        ),
    )
    migration_database_url: SecretStr | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL `driftwise db upgrade` and `db grant` connect with: the role that owns "
            "the schema. The flows use DATABASE_URL, an application role that cannot DROP, ALTER "
            "or TRUNCATE. Default: DATABASE_URL (one role for both)."
        ),
    )
    artifact_dir: Path | None = Field(
        default=None,
        description="Folder for profiles, HTML reports and model files. Default: home/artifacts.",
    )
    report_base_url: str | None = Field(
        default=None,
        description=(
            "URL at which the artifact folder is served (a web server or object-store website), "
            "for the report and history links in Prefect artifacts and alerts. Default: "
            "driftwise ui's address, http://ui_host:ui_port."
        ),
    )
    ui_host: str = Field(default="127.0.0.1", description="Address `driftwise ui` listens on.")
    ui_port: int = Field(default=8765, ge=1, le=65535, description="Port of `driftwise ui`.")
    model_trusted_types: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description=(
            "Types (module.Name, comma-separated) a model file written with skops may hold "
            "besides scikit-learn's, NumPy's and SciPy's: your trainer's own transformers. A "
            "model holding others is saved with joblib (a pickle, still checked by sha256)."
        ),
    )
    slack_token: SecretStr | None = Field(
        default=None, description="Slack bot token (xoxb-...) for chat.postMessage."
    )
    slack_webhook_url: SecretStr | None = Field(
        default=None, description="Slack incoming-webhook URL."
    )
    slack_token_block: str | None = Field(
        default=None,
        description="Prefect Secret block with the Slack bot token (when slack_token is empty).",
    )
    slack_webhook_block: str | None = Field(
        default=None,
        description="Prefect Secret block with the Slack webhook URL (when not set directly).",
    )
    slack_base_url: str = Field(
        default="https://slack.com/api/",
        description="Slack Web API base URL (tests point it at a local server).",
    )
    alert_max_retry_after_seconds: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description=(
            "Longest Retry-After (seconds) an alert post waits out after a 429; a longer one "
            "leaves the alert pending for the next run instead of holding this one."
        ),
    )
    task_timeout_seconds: float = Field(
        default=3 * 3600.0,
        gt=0,
        description=(
            "Longest one step of a run (load, evaluate, train, score...) may take before it fails; "
            "read when the worker process starts."
        ),
    )
    persist_timeout_seconds: float = Field(
        default=900.0,
        gt=0,
        description=(
            "Longest the store transaction of one window may take, lock waits included; past it "
            "the step fails, is not retried, and its transaction is rolled back."
        ),
    )
    delivery_timeout_seconds: float = Field(
        default=600.0, gt=0, description="Longest one delivery of pending alerts may take."
    )
    flow_timeout_seconds: float = Field(
        default=6 * 3600.0,
        gt=0,
        description=(
            "Longest a monitor run (one window) may take; read when the worker process starts. "
            "A retraining is bounded by its steps and its approval timeout instead."
        ),
    )
    log_json: bool = Field(default=False, description="Emit JSON log lines instead of plain text.")
    dask_address: str | None = Field(
        default=None,
        description=(
            "Dask scheduler (tcp://host:8786) that profiles every streamed window, whatever the "
            "spec's `compute` says; its workers need driftwise installed and the sources' paths."
        ),
    )
    dask_workers: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Worker processes of a local Dask cluster started for the run (no address).",
    )
    profile_workers: int = Field(
        default_factory=_default_profile_workers,
        ge=1,
        le=64,
        description=(
            "Processes (this one included) that profile a large window's columns with whylogs. "
            "Default: the cores available, at most 4. Workers start only once a run has "
            "profiled ~20M cells (their first start costs ~5 s); 1: never."
        ),
    )

    pushgateway_url: SecretStr | None = Field(
        default=None,
        description=(
            "Pushgateway base URL (e.g. http://pushgateway:9091); each run pushes its model's "
            "latest values there. A secret: it may carry basic-auth credentials. Empty: no push."
        ),
    )
    pushgateway_job: str = Field(default="driftwise", description="The `job` of pushed metrics.")
    pushgateway_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Give up a push after this many seconds."
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address `driftwise metrics serve` listens on."
    )
    metrics_port: int = Field(
        default=9746, ge=0, le=65535, description="Port of `driftwise metrics serve`."
    )
    pagerduty_routing_key: SecretStr | None = Field(
        default=None, description="PagerDuty Events API v2 integration (routing) key."
    )
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com",
        description="PagerDuty Events API base URL (EU accounts: https://events.eu.pagerduty.com).",
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for e-mail alerts.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", description="starttls (port 587), ssl (port 465) or none (local relay)."
    )
    smtp_username: str | None = Field(default=None, description="SMTP login; empty: no login.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_from: str | None = Field(
        default=None, description="Sender address of alert e-mails, e.g. driftwise@example.com."
    )

    @field_validator("model_trusted_types", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @cached_property
    def store_url(self) -> URL:
        """The metric store's URL; the SQLite default lives under ``home``."""
        if self.database_url is not None:
            return make_url(self.database_url.get_secret_value())
        return make_url(f"sqlite:///{(self.home / 'driftwise.db').resolve()}")

    @property
    def migration_url(self) -> URL:
        """The URL migrations run with: the schema owner's, else the store's own."""
        if self.migration_database_url is not None:
            return make_url(self.migration_database_url.get_secret_value())
        return self.store_url

    @property
    def artifacts(self) -> Path:
        """The artifact folder, resolved (not created: writers create what they need)."""
        return (self.artifact_dir or self.home / "artifacts").resolve()

    @property
    def pages_base_url(self) -> str:
        """Where links to reports and history pages point."""
        return self.report_base_url or f"http://{self.ui_host}:{self.ui_port}"


def environment_secret(name: str) -> str | None:
    """A secret a spec names by environment variable (e.g. a source database URL)."""
    value = os.environ.get(name, "")
    return value or None


def safe_url(url: URL | str) -> str:
    """A URL fit for logs and error messages: the password is masked."""
    return make_url(url).render_as_string(hide_password=True)
