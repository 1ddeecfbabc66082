"""Scheduled runs, end to end: a real `prefect server start` (not the test harness, whose
scheduler is not what users run) creates the monitor deployment's runs at the spec's cron, read
in the spec's time zone, once `driftwise serve` has registered it.

With SQLAlchemy 2.1 prefect 3.8's scheduler service fails on every loop and no run ever appears
(hence the pin in pyproject.toml); this test is what notices."""

from __future__ import annotations

import time
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import ObjectNotFound

from tests.flows.helpers import write_spec_file
from tests.flows.processes import STARTUP_TIMEOUT, prefect_server, serving

pytestmark = pytest.mark.prefect

BERLIN = ZoneInfo("Europe/Berlin")
RUNS = 3
"""Runs the scheduler creates ahead (its min_runs, set explicitly below)."""


def _daily_at(local: clock, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` instants strictly after ``after`` whose wall clock in ``zone`` reads
    ``local``: what cron `M H * * *` means in that zone, DST included (01:30 Berlin is 00:30Z
    in winter, 23:30Z the day before in summer)."""
    day = after.astimezone(zone).date() - timedelta(days=1)
    found: list[datetime] = []
    while len(found) < count:
        instant = datetime.combine(day, local, tzinfo=zone)
        if instant > after:
            found.append(instant.astimezone(UTC))
        day += timedelta(days=1)
    return found


def _scheduled_runs(client: SyncPrefectClient, deployment_id: object) -> list[FlowRun]:
    runs = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    )
    return sorted(
        (run for run in runs if run.state_type == StateType.SCHEDULED),
        key=lambda run: run.expected_start_time or datetime.max.replace(tzinfo=UTC),
    )


def test_daily_at_reads_the_wall_clock_across_dst() -> None:
    """The expectation below is itself right: 01:30 Berlin around the March change."""
    after = datetime(2025, 3, 28, 12, tzinfo=UTC)
    assert _daily_at(clock(1, 30), BERLIN, after, 3) == [
        datetime(2025, 3, 29, 0, 30, tzinfo=UTC),  # CET, +01:00
        datetime(2025, 3, 30, 0, 30, tzinfo=UTC),  # still CET: the clocks go forward at 02:00
        datetime(2025, 3, 30, 23, 30, tzinfo=UTC),  # CEST, +02:00
    ]


def test_prefect_server_schedules_the_monitor_at_the_spec_cron(tmp_path: Path) -> None:
    spec = write_spec_file(
        tmp_path,
        [date(2024, 5, 1)],
        name="credit-scheduled",
        extra={"window": {"length": "1d", "timezone": "Europe/Berlin", "cron": "30 1 * * *"}},
    )
    (home := tmp_path / "prefect").mkdir()
    log = tmp_path / "serve.log"
    server_settings = {"PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": str(RUNS)}
    with (
        prefect_server(home, **server_settings) as server,
        SyncPrefectClient(server.api_url) as client,
        serving(spec, server.api_url, log) as process,
    ):
        deadline = time.monotonic() + STARTUP_TIMEOUT
        runs: list[FlowRun] = []
        while len(runs) < RUNS:
            assert time.monotonic() < deadline, (
                f"{len(runs)} scheduled runs after {STARTUP_TIMEOUT:g} s; server log:\n"
                + (home / "server.log").read_text(errors="replace")[-3000:]
            )
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            with suppress(ObjectNotFound):  # until serve has registered it
                monitor = client.read_deployment_by_name("monitor-model/credit-scheduled-monitor")
                runs = _scheduled_runs(client, monitor.id)
            time.sleep(1)

    # The scheduler plans from the moment it runs: when it created the runs, to the millisecond.
    scheduled_at = min(run.created for run in runs if run.created)
    expected = _daily_at(clock(1, 30), BERLIN, scheduled_at, RUNS)
    starts = [run.expected_start_time for run in runs]
    assert starts == expected, [s.isoformat() if s else None for s in starts]
    assert all(run.deployment_id == monitor.id for run in runs)
