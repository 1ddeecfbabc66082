"""`driftwise serve` against a real Prefect API: deployments, schedules and parameters."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.responses import DeploymentResponse
from prefect.settings import PREFECT_API_URL

from tests.flows.helpers import write_spec_file

pytestmark = pytest.mark.prefect


async def _deployments() -> list[DeploymentResponse]:
    async with get_client() as client:
        return await client.read_deployments()


def _wait_for(
    count: int, process: subprocess.Popen[bytes], timeout: float = 120
) -> list[DeploymentResponse]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [d for d in asyncio.run(_deployments()) if "driftwise" in (d.tags or [])]
        if len(found) >= count:
            return found
        if process.poll() is not None:
            raise AssertionError(f"driftwise serve exited early with {process.returncode}")
        time.sleep(1)
    raise AssertionError(f"fewer than {count} deployments after {timeout} s")


def test_serve_creates_scheduled_deployments_per_spec(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    for name in ("credit-default", "fraud-score"):
        (tmp_path / name).mkdir()
        path = write_spec_file(tmp_path / name, [date(2024, 5, 1)], name=name)
        # The served copy points at the data by absolute path, as a deployed spec would.
        (specs / path.name).write_text(path.read_text().replace("path: ", f"path: {path.parent}/"))

    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "driftwise", "serve", str(specs)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deployments = {
            d.name: d
            for d in _wait_for(8, process)
            if d.name in ("credit-default-monitor", "fraud-score-monitor")
        }
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode(errors="replace")
    assert set(deployments) == {"credit-default-monitor", "fraud-score-monitor"}, output
    monitors = [
        d for d in asyncio.run(_deployments()) if d.schedules and "driftwise" in (d.tags or [])
    ]
    by_name = {d.name: d for d in monitors}
    credit = by_name["credit-default-monitor"]
    [schedule] = credit.schedules
    assert schedule.schedule.cron == "30 0 * * *"
    assert schedule.schedule.timezone == "Europe/Berlin"
    assert credit.parameters == {
        "params": {"spec_path": str((specs / "credit-default.yaml").resolve())}
    }
    properties = credit.parameter_openapi_schema["definitions"]["MonitorParams"]["properties"]
    assert properties["window_date"]["description"].startswith("Local start date")
    on_demand = [
        d
        for d in asyncio.run(_deployments())
        if not d.schedules and d.name.startswith("credit-default-")
    ]
    assert len(on_demand) == 3  # backfill, retrain, rollback: started by hand from the UI
    assert all(d.parameters == credit.parameters for d in on_demand)


def test_prefect_yaml_matches_the_spec_it_deploys() -> None:
    """The work-pool path keeps the spec's schedule; entrypoints resolve to the flows."""
    import importlib

    import yaml

    from monitoring_lib.spec import load_spec

    root = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((root / "deployments" / "prefect.yaml").read_text())
    for deployment in config["deployments"]:
        module, _, name = deployment["entrypoint"].partition(":")
        flow = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)
        spec = load_spec(root / deployment["parameters"]["params"]["spec_path"])
        assert deployment["name"] == f"{spec.name}-{flow.name.removesuffix('-model')}"
        assert flow.name in {"monitor-model", "backfill-model", "retrain-model", "rollback-model"}
        for schedule in deployment.get("schedules", []):
            assert schedule["cron"] == spec.window.cron
            assert schedule["timezone"] == spec.window.timezone
