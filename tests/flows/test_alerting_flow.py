"""Policy to Slack through the monitor flow: one alert per breach, none twice on reruns."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.store.models import Alert
from tests.flows.helpers import DRIFT_ALERT_POLICY, write_spec_file
from tests.slack_server import SlackTestServer

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 5, 1) + timedelta(days=i) for i in range(4)]
TOKEN = "xoxb-111-222-flowtestsecret"
ALERTS = {
    "runbook_url": "https://runbooks.example.com/credit",
    "channels": [
        {"type": "slack_api", "channel": "C0DRIFT", "cooldown": "7d", "min_interval_seconds": 0}
    ],
}


def test_a_breach_alerts_once_and_reruns_do_not_repeat(
    tmp_path: Path, pg_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec_file(
        tmp_path, DAYS, changed_from=DAYS[1], extra={"policy": DRIFT_ALERT_POLICY, "alerts": ALERTS}
    )
    with SlackTestServer(token=TOKEN, lifetime=300) as slack:
        monkeypatch.setenv("DRIFTWISE_SLACK_TOKEN", TOKEN)
        monkeypatch.setenv("DRIFTWISE_SLACK_BASE_URL", slack.base_url)

        def run(day: date) -> dict[str, object]:
            return monitor_model(
                MonitorParams(spec_path=str(spec), window_date=day, write_report=False)
            )

        quiet = run(DAYS[0])
        assert quiet["decision"] == "none"
        assert slack.messages == []

        changed = run(DAYS[1])
        assert changed["decision"] == "alert"
        assert len(slack.messages) == 1
        text = str(slack.messages[0])
        assert "dataset-drift" in text
        assert "credit-default" in text
        assert "runbooks.example.com" in text

        run(DAYS[1])  # a rerun of the same window
        run(DAYS[2])  # the breach persists: silence within the cooldown
        run(DAYS[3])
        assert len(slack.messages) == 1

    with Session(pg_store) as session:
        statuses = session.execute(select(Alert.status)).scalars().all()
    assert statuses == ["sent"]


def test_the_slack_token_can_come_from_a_prefect_secret_block(
    tmp_path: Path, pg_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No DRIFTWISE_SLACK_TOKEN: the token comes from the named block (the server checks it)."""
    from prefect.blocks.system import Secret

    spec = write_spec_file(
        tmp_path,
        DAYS[:2],
        changed_from=DAYS[1],
        extra={"policy": DRIFT_ALERT_POLICY, "alerts": ALERTS},
    )
    Secret(value=TOKEN).save("driftwise-slack-token", overwrite=True)
    with SlackTestServer(token=TOKEN, lifetime=300) as slack:
        monkeypatch.setenv("DRIFTWISE_SLACK_TOKEN_BLOCK", "driftwise-slack-token")
        monkeypatch.setenv("DRIFTWISE_SLACK_BASE_URL", slack.base_url)
        result = monitor_model(
            MonitorParams(spec_path=str(spec), window_date=DAYS[1], write_report=False)
        )
        assert result["decision"] == "alert"
        assert len(slack.messages) == 1
