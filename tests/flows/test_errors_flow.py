"""Deterministic errors fail at once, through Prefect, and the command line says so in one line;
transient ones are still retried. The command line is quiet unless asked (--verbose)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_API_URL
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

import tasks.actions
import tasks.monitoring
from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.io.sources import SourceError
from tasks.retries import worth_retrying
from tests.flows.helpers import write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 5, 1) + timedelta(days=i) for i in range(2)]
CLI_TIMEOUT = 300
"""Seconds one `driftwise run` may take in a subprocess on 2 busy cores."""


def task_runs(flow_run_id: object) -> dict[str, tuple[str, int]]:
    """Task name -> (state, attempts) for one flow run."""

    async def read() -> dict[str, tuple[str, int]]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        return {r.name.rsplit("-", 1)[0]: (str(r.state_type.value), r.run_count) for r in runs}

    return asyncio.run(read())


def test_a_missing_source_fails_its_retrying_task_on_the_first_attempt(
    tmp_path: Path, pg_store: Engine
) -> None:
    """The label refresh retries (twice) what may pass next time; a labels path that matches no
    file never will, so the run fails at once with the file and the fix."""
    spec = write_spec_file(tmp_path, DAYS)
    monitor_model(MonitorParams(spec_path=str(spec), window_date=DAYS[0], write_report=False))
    (tmp_path / "labels.parquet").unlink()

    state = monitor_model(
        MonitorParams(spec_path=str(spec), window_date=DAYS[1], write_report=False),
        return_state=True,
    )

    assert state.is_failed()
    with pytest.raises(SourceError, match=r"labels source: no file matches 'labels\.parquet'"):
        state.result()
    runs = task_runs(state.state_details.flow_run_id)
    assert runs["rescore windows with late labels"] == ("FAILED", 1)


def test_a_transient_error_is_still_retried() -> None:
    attempts: list[int] = []

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=worth_retrying)
    def flaky_store() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return "stored"

    @task(retries=2, retry_delay_seconds=0, retry_condition_fn=worth_retrying)
    def missing_file() -> None:
        attempts.append(2)
        raise SourceError("predictions source: no file matches 'gone/*.parquet'")

    @flow
    def both() -> str:
        stored = flaky_store()
        with contextlib.suppress(SourceError):
            missing_file()
        return stored

    assert both() == "stored"
    assert attempts == [1, 1, 2]


@pytest.mark.parametrize("module", [tasks.monitoring, tasks.actions])
def test_every_retrying_task_asks_whether_a_retry_can_help(module: object) -> None:
    from prefect import Task

    retrying = [t for t in vars(module).values() if isinstance(t, Task) and t.retries]
    assert retrying
    assert [t.name for t in retrying if t.retry_condition_fn is not worth_retrying] == []


def driftwise(*args: str) -> subprocess.CompletedProcess[str]:
    """`driftwise ...` in its own process, on the test server, 80 columns wide."""
    return subprocess.run(
        [sys.executable, "-m", "driftwise", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "COLUMNS": "80"},
    )


def test_the_command_line_ends_a_deterministic_error_with_one_line(
    tmp_path: Path, pg_store: Engine
) -> None:
    good = write_spec_file(tmp_path, DAYS)
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("path: log.parquet", "path: gone/*.parquet"))

    quiet = driftwise("run", str(bad), "--date", "2024-05-01")

    assert quiet.returncode == 1
    assert quiet.stdout == ""
    lines = quiet.stderr.strip().splitlines()
    assert lines == [
        f"error: predictions source: no file matches 'gone/*.parquet' (looked for {tmp_path}/"
        "gone/*.parquet); fix sources.predictions.path in the spec (relative to the spec's "
        "folder) or add the files"
    ]

    verbose = driftwise("run", str(bad), "--date", "2024-05-01", "--verbose")
    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr
    assert "Finished in state Failed" in verbose.stderr


def test_a_run_prints_its_summary_and_no_prefect_lines(tmp_path: Path, pg_store: Engine) -> None:
    spec = write_spec_file(tmp_path, DAYS, name="a-rather-long-model-name")

    result = driftwise("run", str(spec), "--date", "2024-05-01", "--no-report")

    assert result.returncode == 0, result.stderr
    assert "Finished in state" not in result.stdout + result.stderr
    assert "INFO" not in result.stdout + result.stderr
    # At 80 columns the date and the status stay whole; the long name folds onto a second line.
    lines = result.stdout.splitlines()
    [row] = [index for index, line in enumerate(lines) if "2024-05-01" in line]
    assert lines[row].split()[1:] == ["2024-05-01", "500", "0.50", "0.00", "—", "green"]
    assert lines[row].split()[0] + lines[row + 1].split()[0] == "a-rather-long-model-name"
    assert "…" not in result.stdout
