"""How long `driftwise serve` takes to exit after SIGINT or SIGTERM, and what it leaves behind.

    .venv/bin/python benchmarks/serve_stop.py [--repeat 3] [--code OTHER_CHECKOUT]

Each case serves one generated spec against a `prefect server start` of its own, sends the
signal, and prints the seconds from signal to exit, the exit code, how many of the model's four
deployments were paused, the state of a run in progress, and whether any process serve started
was left running ("left"). Cases: ``idle`` (nothing running), ``run`` (a monitor run in
progress: its store has no tables, so its first task retries for 12 s) and ``api-down`` (the
Prefect server stopped first). ``--code`` runs `driftwise` from another checkout (e.g. one at an
older commit), to compare versions.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.responses import DeploymentResponse

from tests.flows.helpers import write_spec_file
from tests.flows.processes import group_alive, prefect_server, serving

TIMEOUT = 300.0


def _served(client: SyncPrefectClient, since: float) -> list[DeploymentResponse] | None:
    """The model's four deployments once serve has registered them all, monitor first."""
    tagged = DeploymentFilter(tags=DeploymentFilterTags(all_=["driftwise"]))
    found = [
        d
        for d in client.read_deployments(deployment_filter=tagged)
        if d.updated and d.updated.timestamp() >= since
    ]
    return sorted(found, key=lambda d: not d.schedules) if len(found) == 4 else None


def _wait(condition, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise SystemExit(f"gave up waiting for {what}")


def one_case(case: str, stop: signal.Signals, spec: Path, work: Path, code: Path | None) -> str:
    home = Path(tempfile.mkdtemp(dir=work, prefix="home-"))
    log = work / f"serve-{case}-{stop.name}.log"
    with prefect_server(home) as server, SyncPrefectClient(server.api_url) as client:
        started = time.time() - 1
        store = {"DRIFTWISE_HOME": str(home / "driftwise")}  # an empty store: no tables
        with serving(spec, server.api_url, log, code=code, env=store) as process:
            served = _wait(lambda: _served(client, started), "the deployments")
            monitor = served[0]
            time.sleep(1)  # past the deployments: the runner is polling
            run = None
            if case == "run":
                run = client.create_flow_run_from_deployment(monitor.id)
                _wait(lambda: client.read_flow_run(run.id).state.is_running(), "a running run")
            if case == "api-down":
                server.stop()
            signalled = time.monotonic()
            process.send_signal(stop)
            try:
                code_ = process.wait(TIMEOUT)
                took = f"{time.monotonic() - signalled:6.2f} s"
            except subprocess.TimeoutExpired:
                code_, took = None, f"> {TIMEOUT:g} s"
            leftover = group_alive(process)
        if case == "api-down":
            return f"{case:9} {stop.name:7} exit after {took}, code {code_}, left {leftover}"
        paused = sum(bool(client.read_deployment(d.id).paused) for d in served)
        state = client.read_flow_run(run.id).state.type.value if run else "-"
    return (
        f"{case:9} {stop.name:7} exit after {took}, code {code_}, paused {paused}/4, "
        f"run {state}, left {leftover}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cases", default="idle,run,api-down")
    parser.add_argument("--code", type=Path, help="a checkout to run driftwise from")
    parser.add_argument("--workdir", type=Path, help="keep the logs here (default: a temp dir)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serve-stop-") as folder:
        work = options.workdir or Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        spec = write_spec_file(work, [date(2024, 5, 1)])
        for _ in range(options.repeat):
            for case in options.cases.split(","):
                for stop in (signal.SIGINT, signal.SIGTERM):
                    print(one_case(case, stop, spec, work, options.code), flush=True)


if __name__ == "__main__":
    main()
