"""The monitor flow when delivery goes wrong, through a real Prefect API, PostgreSQL and slack-sdk to
the local Slack: Slack down on every attempt keeps the window and the alert, and the next run
sends it once; with debug logs and refused credentials no secret reaches a log line, an
exception, a Prefect artifact, the store or the HTML report."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler
from sqlalchemy import Engine, MetaData, select, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.store.models import Alert
from tests.flows.helpers import DRIFT_ALERT_POLICY, metric_rows, write_spec_file
from tests.slack_server import SlackTestServer

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 5, 1) + timedelta(days=i) for i in range(2)]
TOKEN = "xoxb-333-444-deliveryflowsecret"
WRONG_TOKEN = "xoxb-999-888-refusedtokensecret"
DB_PASSWORD = "db-Pass-word-7741"
SLACK_API = {"type": "slack_api", "channel": "C0DRIFT", "cooldown": "7d", "min_interval_seconds": 0}


def spec_with(folder: Path, *channels: dict[str, Any]) -> Path:
    alerts = {"runbook_url": "https://runbooks.example.com/credit", "channels": list(channels)}
    extra = {"policy": DRIFT_ALERT_POLICY, "alerts": alerts}
    return write_spec_file(folder, DAYS, changed_from=DAYS[1], extra=extra)


def run(spec: Path, day: date, *, report: bool = False) -> Any:
    return monitor_model(
        MonitorParams(spec_path=str(spec), window_date=day, write_report=report),
        return_state=True,
    )


def run_tags(state: Any) -> list[str]:
    with get_client(sync_client=True) as client:
        return list(client.read_flow_run(state.state_details.flow_run_id).tags)


def alert_rows(engine: Engine) -> list[tuple[str, int]]:
    with Session(engine) as session:
        return [(a.status, a.attempts) for a in session.execute(select(Alert)).scalars()]


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackTestServer]:
    with SlackTestServer(token=TOKEN, lifetime=300) as server:
        monkeypatch.setenv("DRIFTWISE_SLACK_BASE_URL", server.base_url)
        yield server


def test_slack_down_on_every_attempt_keeps_the_window_and_the_next_run_sends_once(
    tmp_path: Path, pg_store: Engine, slack: SlackTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTWISE_SLACK_TOKEN", TOKEN)
    spec = spec_with(tmp_path, SLACK_API)
    slack.script("chat.postMessage", *["server_error"] * 2)
    for attempt in (1, 2):  # the run, then a rerun of the window: Slack still down
        state = run(spec, DAYS[1])
        assert state.is_completed()
        assert state.name == "Degraded"  # completed, and says that its alert did not go out
        assert "1 pending" in (state.message or "")
        assert "degraded" in run_tags(state)
        assert state.result()["decision"] == "alert"
        assert len(metric_rows(pg_store)) > 100  # the window is committed all the same
        assert alert_rows(pg_store) == [("pending", attempt)]
    assert slack.messages == []
    assert len(slack.requests_to("chat.postMessage")) == 2
    state = run(spec, DAYS[1])  # Slack is back
    assert (state.is_completed(), state.name) == (True, "Completed")
    assert "degraded" not in run_tags(state)
    assert len(slack.messages) == 1
    assert alert_rows(pg_store) == [("sent", 3)]
    assert run(spec, DAYS[1]).is_completed()
    assert len(slack.messages) == 1


async def _prefect_texts(flow_run_ids: list[Any]) -> str:
    """Every log line the Prefect API holds for the runs, and every artifact."""
    await APILogHandler.aflush()
    async with get_client() as client:
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids))
        )
        artifacts = await client.read_artifacts()
    return "\n".join(
        [log.message for log in logs] + [f"{a.key} {a.description} {a.data}" for a in artifacts]
    )


def _store_texts(engine: Engine) -> str:
    """Every row of every table of the store, as text."""
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as connection:
        return "\n".join(
            repr(row) for table in tables.sorted_tables for row in connection.execute(select(table))
        )


def test_no_secret_reaches_logs_exceptions_artifacts_the_store_or_the_report(
    tmp_path: Path,
    pg_store: Engine,
    slack: SlackTestServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store_url: URL = pg_store.url.set(password=DB_PASSWORD)  # trust auth ignores it; logs may not
    monkeypatch.setenv("DRIFTWISE_DATABASE_URL", store_url.render_as_string(hide_password=False))
    monkeypatch.setenv("DRIFTWISE_SLACK_TOKEN", WRONG_TOKEN)  # Slack answers invalid_auth
    monkeypatch.setenv("DRIFTWISE_SLACK_WEBHOOK_URL", slack.webhook_url)
    slack.script("webhook", "invalid_auth", "invalid_auth")  # and the webhook 403
    spec = spec_with(tmp_path, SLACK_API, {"type": "slack_webhook"})
    missing_db = store_url.set(database="dw_no_such_database")
    with caplog.at_level(logging.DEBUG):
        states = [run(spec, DAYS[0], report=True), run(spec, DAYS[1], report=True)]
        assert all(state.is_completed() for state in states)
        monkeypatch.setenv(
            "DRIFTWISE_DATABASE_URL", missing_db.render_as_string(hide_password=False)
        )
        broken = run(spec, DAYS[1])
        assert broken.is_failed()
        with pytest.raises(Exception) as raised:
            broken.result()
    assert len(slack.requests_to("chat.postMessage")) == 1
    assert [r.behaviour for r in slack.requests_to("webhook")] == ["invalid_auth"]
    assert alert_rows(pg_store) == [("pending", 1), ("pending", 1)]
    flow_runs = [state.state_details.flow_run_id for state in [*states, broken]]
    reports = "\n".join(p.read_text() for p in (tmp_path / ".driftwise").rglob("*.html"))
    assert "<html" in reports.lower()
    exposed = {
        "log lines": caplog.text,
        "the exception": f"{raised.value!r} {raised.value}",
        "Prefect logs and artifacts": asyncio.run(_prefect_texts(flow_runs)),
        "the store": _store_texts(pg_store),
        "the HTML reports": reports,
    }
    assert "invalid_auth" in exposed["the store"]  # the failures are recorded, redacted
    assert "dw_no_such_database" in exposed["the exception"] + exposed["Prefect logs and artifacts"]
    for secret in (TOKEN, WRONG_TOKEN, slack.webhook_url, slack.webhook_path, DB_PASSWORD):
        for where, content in exposed.items():
            assert secret not in content, f"{secret!r} appears in {where}"
    with pg_store.connect() as connection:  # the password never got into the store either way
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
