"""Case (4): two monitor runs of one breaching window at once, each a flow run of its own process
through the Prefect API, held inside their persist transaction until both are there and let go
together, then held again before delivering their alerts: one consistent set of rows, one alert,
one Slack message."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import get_current_settings
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitoring_lib.store.models import Alert, MetricRow, Run
from tests.flows.helpers import DRIFT_ALERT_POLICY, metric_rows, write_spec_file
from tests.flows.persist_hooks import gate
from tests.flows.test_alerting_flow import ALERTS, TOKEN
from tests.slack_server import SlackTestServer

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
ROOT = Path(__file__).resolve().parents[2]
BEFORE, DAY = date(2024, 5, 1), date(2024, 5, 2)


def test_two_runs_of_one_window_at_once_store_one_set_of_rows_and_post_one_message(
    tmp_path: Path, pg_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec_file(
        tmp_path, [BEFORE, DAY], rows=150, changed_from=DAY,
        extra={"policy": DRIFT_ALERT_POLICY, "alerts": ALERTS},
    )  # fmt: skip
    with SlackTestServer(token=TOKEN, lifetime=300) as slack:
        monkeypatch.setenv("DRIFTWISE_SLACK_TOKEN", TOKEN)
        monkeypatch.setenv("DRIFTWISE_SLACK_BASE_URL", slack.base_url)
        env = {**os.environ, "PREFECT_API_URL": str(get_current_settings().api.url)}
        with gate(2) as (port, release):
            hook = [sys.executable, "-m", "tests.flows.persist_hooks", "barrier", str(port)]
            both = subprocess.Popen(  # imports once, then forks into two flow runs
                [*hook, str(spec), str(DAY), "2"], env=env, cwd=ROOT, stderr=subprocess.PIPE
            )
            try:
                release()  # both are inside their persist transaction: go at once
                release()  # both have persisted and are about to deliver: go at once
                _, error = both.communicate(timeout=300)
            finally:
                both.kill()
        assert both.returncode == 0, error.decode(errors="replace")[-3000:]
        assert len(slack.messages) == 1
        assert "dataset-drift" in str(slack.messages[0])
        with Session(pg_store) as session:
            (stored_run,) = session.scalars(select(Run))
            run_ids = set(session.scalars(select(MetricRow.run_id)))
            alerts = session.execute(select(Alert.rule, Alert.status)).all()
        assert run_ids == {stored_run.id}  # every row is the last writer's
        assert alerts == [("dataset-drift", "sent")]
        together = metric_rows(pg_store)
        keys = Counter(row[:4] for row in together)
        assert len(keys) > 100
        assert max(keys.values()) == 1  # one row per (window, metric, column, segment)
        assert stored_run.flow_run_id is not None
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(stored_run.flow_run_id)).state
        assert state is not None
        assert state.is_completed()
