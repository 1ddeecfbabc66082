"""`driftwise serve` against a real Prefect API: deployments, schedules, parameters, and how it
stops (Ctrl-C or SIGTERM, a run in progress, the API gone) or refuses to start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.responses import DeploymentResponse
from prefect.settings import PREFECT_API_URL

from tests.flows.helpers import write_spec_file
from tests.flows.processes import STARTUP_TIMEOUT, group_alive, prefect_server, serving

pytestmark = pytest.mark.prefect

STOP_BOUND = 30.0
"""Seconds a stopped `driftwise serve` may take to exit. A bound on a hang, not a speed target:
it stops within its --stop-timeout (10 s by default; Prefect's own `serve` took 70 s with the API
gone, and forever when SIGINT never reached it)."""

ROLES = ("monitor", "backfill", "retrain", "rollback")
T = TypeVar("T")


def _client(api_url: str | None = None) -> SyncPrefectClient:
    return SyncPrefectClient(api_url or PREFECT_API_URL.value())


def _deployments(client: SyncPrefectClient, model: str) -> dict[str, DeploymentResponse]:
    """The model's deployments by name (every driftwise deployment carries the model's tag)."""
    tagged = DeploymentFilter(tags=DeploymentFilterTags(all_=["driftwise", model]))
    return {d.name: d for d in client.read_deployments(deployment_filter=tagged)}


def _wait_for(
    what: str, found: Callable[[], T | None], process: subprocess.Popen[bytes], log: Path
) -> T:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if (value := found()) is not None:
            return value
        if process.poll() is not None:
            raise AssertionError(f"driftwise serve exited with {process.returncode}:\n{_tail(log)}")
        time.sleep(0.5)
    raise AssertionError(f"no {what} after {STARTUP_TIMEOUT:g} s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def _served(
    client: SyncPrefectClient, models: list[str], process: subprocess.Popen[bytes], log: Path
) -> dict[str, DeploymentResponse]:
    """Wait until serve has registered every deployment of ``models`` and said it is serving."""

    def every_deployment() -> dict[str, DeploymentResponse] | None:
        if "serving" not in log.read_text(errors="replace"):
            return None
        found = {name: d for model in models for name, d in _deployments(client, model).items()}
        return found if len(found) == len(ROLES) * len(models) else None

    return _wait_for("deployments", every_deployment, process, log)


def _stop(process: subprocess.Popen[bytes], stop: signal.Signals, bound: float = STOP_BOUND) -> int:
    process.send_signal(stop)
    try:
        return process.wait(bound)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still serving {bound:g} s after {stop.name}") from None


def _spec(folder: Path, name: str = "credit-default") -> Path:
    folder.mkdir()
    return write_spec_file(folder, [date(2024, 5, 1)], name=name)


def test_serve_creates_scheduled_deployments_per_spec(tmp_path: Path) -> None:
    models = ["credit-default", "fraud-score"]
    specs = tmp_path / "specs"
    specs.mkdir()
    for name in models:
        path = _spec(tmp_path / name, name)
        # The served copy points at the data by absolute path, as a deployed spec would.
        (specs / path.name).write_text(path.read_text().replace("path: ", f"path: {path.parent}/"))

    log = tmp_path / "serve.log"
    with _client() as client, serving(specs, PREFECT_API_URL.value(), log) as process:
        served = _served(client, models, process, log)
        flows = {d.flow_id: client.read_flow(d.flow_id).name for d in served.values()}
        assert _stop(process, signal.SIGINT) == 0, _tail(log)
        paused = {name: client.read_deployment(d.id).paused for name, d in served.items()}

    # The UI lists `flow/deployment`: the four of a model are told apart by either half.
    assert {f"{flows[d.flow_id]}/{name}" for name, d in served.items()} == {
        f"{role}-model/{model}-{role}" for model in models for role in ROLES
    }
    credit = served["credit-default-monitor"]
    [schedule] = credit.schedules
    assert schedule.schedule.cron == "30 0 * * *"
    assert schedule.schedule.timezone == "Europe/Berlin"
    assert credit.parameters == {
        "params": {"spec_path": str((specs / "credit-default.yaml").resolve())}
    }
    properties = credit.parameter_openapi_schema["definitions"]["MonitorParams"]["properties"]
    assert properties["window_date"]["description"].startswith("Local start date")
    on_demand = [served[f"credit-default-{role}"] for role in ROLES[1:]]
    assert all(not d.schedules for d in on_demand)  # started by hand from the UI
    assert all(d.parameters == credit.parameters for d in on_demand)
    assert not any(d.paused for d in served.values())
    assert all(paused.values()), f"Ctrl-C pauses every served schedule: {paused}"


def test_sigterm_stops_serve_and_cancels_the_run_in_progress(tmp_path: Path) -> None:
    """Like Ctrl-C above, with a run in progress: its store has no tables (DRIFTWISE_HOME is a
    fresh folder), so its first task retries for 12 s, and SIGTERM comes meanwhile.

    Cancelling a run and pausing four schedules took over the default 10 s on two loaded cores,
    so this stop may take 120 s: the behaviour is checked, not its speed."""
    model = "credit-sigterm"
    spec = _spec(tmp_path / "project", model)
    log = tmp_path / "serve.log"
    stop_timeout = 120.0
    with (
        _client() as client,
        serving(
            spec, PREFECT_API_URL.value(), log, "--stop-timeout", f"{stop_timeout:g}"
        ) as process,
    ):
        served = _served(client, [model], process, log)
        run = client.create_flow_run_from_deployment(served[f"{model}-monitor"].id)

        def running() -> bool | None:
            state = client.read_flow_run(run.id).state
            assert state is not None
            assert not state.is_final(), f"the run ended before the stop: {state}"
            return True if state.is_running() else None

        _wait_for("running flow run", running, process, log)
        assert _stop(process, signal.SIGTERM, stop_timeout + STOP_BOUND) == 0, _tail(log)
        state = client.read_flow_run(run.id).state
        paused = [client.read_deployment(d.id).paused for d in served.values()]

    assert state is not None
    assert state.is_cancelled(), f"{state}\n{_tail(log)}"
    assert not group_alive(process), "a process that serve started outlived it"
    assert all(paused), paused


def test_serve_gives_up_stopping_when_the_api_is_gone(tmp_path: Path) -> None:
    """Pausing the schedules cannot succeed: serve says so and exits, by --stop-timeout at most.

    Whether the client's requests fail fast (connection refused) or hang until the timeout
    depends on timing; either way the last line names why the stop was not clean."""
    spec = _spec(tmp_path / "project", "credit-api-gone")
    (home := tmp_path / "prefect").mkdir()
    log = tmp_path / "serve.log"
    with (
        prefect_server(home) as server,
        _client(server.api_url) as client,
        serving(spec, server.api_url, log, "--stop-timeout", "3") as process,
    ):
        _served(client, ["credit-api-gone"], process, log)
        server.stop()
        code = _stop(process, signal.SIGTERM)
    assert code == 1, _tail(log)
    [last_line] = log.read_text().strip().splitlines()[-1:]
    assert last_line.startswith("error: stopped, but not cleanly ("), last_line
    assert "it took longer than 3 s" in last_line or "is the Prefect API reachable?" in last_line
    assert "some schedules may still be active" in last_line
    assert not group_alive(process)


def test_serve_refuses_specs_that_fail_validation(tmp_path: Path) -> None:
    """One line per problem, every spec checked, nothing served."""
    specs = tmp_path / "specs"
    specs.mkdir()
    good = _spec(tmp_path / "good", "refused")
    served_copy = good.read_text().replace("path: ", f"path: {good.parent}/")
    (specs / "good.yaml").write_text(served_copy)
    (specs / "twin.yaml").write_text(served_copy)  # the same model name
    (specs / "missing.yaml").write_text(
        served_copy.replace("refused", "refused-no-data").replace("log.parquet", "gone.parquet")
    )
    (specs / "typo.yaml").write_text(served_copy.replace("task: binary", "task: binery"))

    result = subprocess.run(
        [sys.executable, "-m", "driftwise", "serve", str(specs)],
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
        env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()},
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[:-1] == [
        f"✗ {specs}/missing.yaml: predictions source: no file matches "
        f"'{good.parent}/gone.parquet' (looked for {good.parent}/gone.parquet); fix "
        "sources.predictions.path in the spec (relative to the spec's folder) or add the files",
        f"✗ {specs}/twin.yaml: model name 'refused' is also used by {specs}/good.yaml",
        f"✗ {specs}/typo.yaml: task: Input should be 'binary', 'multiclass' or 'regression'",
    ]
    assert lines[-1] == "error: nothing served: 3 problem(s) in the specs above"
    assert result.stdout == ""
    with _client() as client:
        assert not _deployments(client, "refused") | _deployments(client, "refused-no-data")


def test_prefect_yaml_matches_the_spec_it_deploys() -> None:
    """The work-pool path keeps the spec's schedule and serve's deployment names; entrypoints
    resolve to the flows."""
    import importlib

    import yaml

    from monitoring_lib.spec.monitor import load_spec

    root = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((root / "deployments" / "prefect.yaml").read_text())
    roles = {
        "monitor-model": "monitor",
        "backfill-model": "backfill",
        "retrain-model": "retrain",
        "rollback-model": "rollback",
    }
    flows = []
    for deployment in config["deployments"]:
        module, _, name = deployment["entrypoint"].partition(":")
        flow = getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)
        spec = load_spec(root / deployment["parameters"]["params"]["spec_path"])
        assert deployment["name"] == f"{spec.name}-{roles[flow.name]}"
        flows.append(flow.name)
        for schedule in deployment.get("schedules", []):
            assert schedule["cron"] == spec.window.cron
            assert schedule["timezone"] == spec.window.timezone
    assert sorted(flows) == sorted(roles)


def test_optional_parameters_read_as_plain_inputs_in_the_run_form() -> None:
    """Prefect's UI renders a parameter's JSON schema; a `None` branch there reads "Property is
    type 'None'". Optional parameters are one input left empty instead, and None still works."""
    from prefect.utilities.callables import parameter_schema

    from flows.backfill import backfill_model
    from flows.monitor import MonitorParams, monitor_model
    from flows.retrain import retrain_model
    from flows.rollback import rollback_model

    for flow_ in (monitor_model, backfill_model, retrain_model, rollback_model):
        schema = parameter_schema(flow_).model_dump()
        for model in schema["definitions"].values():
            for name, field in model["properties"].items():
                branches = field.get("anyOf", [])
                assert {"type": "null"} not in branches, (flow_.name, name)
                assert "description" in field, (flow_.name, name)
    window_date = parameter_schema(monitor_model).model_dump()["definitions"]["MonitorParams"][
        "properties"
    ]["window_date"]
    assert (window_date["type"], window_date["format"]) == ("string", "date")
    assert MonitorParams(spec_path="x.yaml", window_date=None).window_date is None
