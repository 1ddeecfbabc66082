"""Health in the Prefect UI: a monitor run's tags and name say its model and status, its
artifacts link the report and the history page over http, and subflows carry the model too;
all read back through a real Prefect API."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import FlowRun
from sqlalchemy import Engine

from flows.monitor import MonitorParams, monitor_model
from flows.retrain import RetrainParams, retrain_model
from flows.rollback import RollbackParams, rollback_model
from monitoring_lib.settings import DriftwiseSettings
from tests.flows.helpers import write_spec_file
from tests.unit.html_checks import injected_scripts

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAY = date(2024, 5, 1)
NOW = datetime(2024, 5, 3, tzinfo=UTC)
RED_POLICY = {
    "rules": [
        {
            "name": "any-traffic",
            "metric": "window.row_count",
            "direction": "above",
            "threshold": 1,
            "severity": "high",
            "action": "retrain",
        }
    ]
}
ACTIONS = {
    "retrain": {"trainer": "monitoring_lib.example_trainer:train", "metric": "quality.roc_auc"}
}


def _flow_run(result_id: str) -> FlowRun:
    async def read() -> FlowRun:
        async with get_client() as client:
            return await client.read_flow_run(result_id)  # type: ignore[arg-type]

    return asyncio.run(read())


def _artifacts(run: FlowRun) -> dict[str, Any]:
    """The run's own artifacts (other tests of the session publish under the same keys)."""

    async def read() -> dict[str, Any]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
            )
        return {a.key: a for a in found if a.key}

    return asyncio.run(read())


def _served_file(url: str) -> Path:
    """The file a link under driftwise ui's default base URL points at."""
    base = DriftwiseSettings().pages_base_url
    found = re.search(r"\((http[^)]+)\)", url)  # a link artifact's data: [text](url)
    url = found.group(1) if found else url
    assert url.startswith(base + "/"), url
    return DriftwiseSettings().artifacts / unquote(urlparse(url).path).lstrip("/")


def _run_state(params: MonitorParams) -> FlowRun:
    state = monitor_model(params, return_state=True)
    assert state.is_completed()
    return _flow_run(str(state.state_details.flow_run_id))


def test_a_green_run_says_its_model_and_status(tmp_path: Path, pg_store: Engine) -> None:
    spec = write_spec_file(tmp_path, [DAY])
    run = _run_state(MonitorParams(spec_path=str(spec), window_date=DAY))
    assert run.name == "credit-default 2024-05-01 green"
    assert {"model:credit-default", "status:green"} <= set(run.tags)
    artifacts = _artifacts(run)
    assert "GREEN" in (artifacts["credit-default-summary"].description or "")
    report = _served_file(str(artifacts["credit-default-report"].data))
    history = _served_file(str(artifacts["credit-default-history"].data))
    assert report.suffix == ".html"
    assert "driftwise: GREEN" in report.read_text(encoding="utf-8")
    assert history.name == "timeseries.html"
    assert "2024-05-01" in history.read_text(encoding="utf-8")
    assert "[history](http" in str(artifacts["credit-default-summary"].data)


def test_a_red_run_and_its_report_say_red_and_why(tmp_path: Path, pg_store: Engine) -> None:
    spec = write_spec_file(tmp_path, [DAY], extra={"policy": RED_POLICY, "actions": ACTIONS})
    params = MonitorParams(spec_path=str(spec), window_date=DAY, allow_actions=False)
    run = _run_state(params)
    assert run.name == "credit-default 2024-05-01 red"
    tags = set(run.tags)
    assert {"model:credit-default", "status:red"} <= tags
    assert "status:green" not in tags
    artifacts = _artifacts(run)
    page = _served_file(str(artifacts["credit-default-report"].data)).read_text(encoding="utf-8")
    banner = page[page.index('id="driftwise-verdict"') :][:3_000]
    assert "driftwise: RED" in banner
    assert "decision: retrain" in banner
    assert "any-traffic" in banner
    assert injected_scripts(page) == []


def test_a_rerun_replaces_the_status_tag(tmp_path: Path, pg_store: Engine) -> None:
    spec = write_spec_file(tmp_path, [DAY])
    _run_state(MonitorParams(spec_path=str(spec), window_date=DAY, write_report=False))
    spec.write_text(spec.read_text() + "\n")  # same spec: the second run is a rerun
    run = _run_state(MonitorParams(spec_path=str(spec), window_date=DAY, write_report=False))
    assert [t for t in run.tags if t.startswith("status:")] == ["status:green"]


def test_a_rollback_run_is_named_after_the_model(tmp_path: Path, pg_store: Engine) -> None:
    spec = write_spec_file(tmp_path, [DAY], extra={"actions": {"rollback": {"within": "14d"}}})
    state = rollback_model(
        RollbackParams(spec_path=str(spec), as_of=datetime(2024, 5, 3, tzinfo=UTC)),
        return_state=True,
    )
    run = _flow_run(str(state.state_details.flow_run_id))
    assert run.name == "credit-default rollback"
    assert "model:credit-default" in run.tags
    assert str(tmp_path) not in run.name


def test_a_retrain_run_is_named_after_the_model_and_the_local_window(
    tmp_path: Path, pg_store: Engine
) -> None:
    spec = write_spec_file(tmp_path, [DAY], extra={"actions": ACTIONS})
    midnight_in_berlin = datetime(2024, 4, 30, 22, tzinfo=UTC)  # the window of 1 May
    state = retrain_model(
        RetrainParams(spec_path=str(spec), as_of=NOW, window_start=midnight_in_berlin),
        return_state=True,
    )
    run = _flow_run(str(state.state_details.flow_run_id))
    assert run.name == "credit-default retrain for 2024-05-01"
    assert "model:credit-default" in run.tags
