"""Per monitor spec: the scheduled monitor deployment (cron and time zone from the spec), and
backfill, retrain and rollback deployments that the UI starts by hand (retraining can then run on
other infrastructure through a work pool). Each is named `<model>-<what it does>`, so the UI's
deployment list (which puts the deployment's name first) tells the four apart."""

from __future__ import annotations

from pathlib import Path

from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.backfill import backfill_model
from flows.monitor import monitor_model
from flows.retrain import retrain_model
from flows.rollback import rollback_model
from monitoring_lib.durations import format_duration
from monitoring_lib.spec import MonitorSpec
from tasks.run_labels import model_tag


def deployment_name(spec: MonitorSpec, role: str) -> str:
    """e.g. `credit-default-monitor`; the UI shows it as `monitor-model/credit-default-monitor`."""
    return f"{spec.name}-{role}"


def spec_deployments(spec_path: Path, spec: MonitorSpec) -> list[RunnerDeployment]:
    path = str(spec_path.resolve())
    length = format_duration(spec.window.length)
    tags = ["driftwise", spec.name, model_tag(spec.name)]
    return [
        monitor_model.to_deployment(
            name=deployment_name(spec, "monitor"),
            schedules=[Cron(spec.window.cron, timezone=spec.window.timezone)],
            parameters={"params": {"spec_path": path}},
            description=(
                f"Monitoring of {spec.name} ({spec.task}): one {length} "
                f"window per run, cut in {spec.window.timezone}."
            ),
            tags=tags,
        ),
        backfill_model.to_deployment(
            name=deployment_name(spec, "backfill"),
            parameters={"params": {"spec_path": path}},
            description=f"Backfill {spec.name} over a date range (give start and end).",
            tags=tags,
        ),
        retrain_model.to_deployment(
            name=deployment_name(spec, "retrain"),
            parameters={"params": {"spec_path": path}},
            description=f"Retrain {spec.name}: challenger vs champion behind the gate.",
            tags=tags,
        ),
        rollback_model.to_deployment(
            name=deployment_name(spec, "rollback"),
            parameters={"params": {"spec_path": path}},
            description=f"Roll {spec.name} back to its last good version.",
            tags=tags,
        ),
    ]
