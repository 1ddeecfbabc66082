"""Prefect UI artifacts for a window: summary, per-column drift table, report link.

Keys are per model, so the UI's Artifacts page shows each model's history.
"""

from __future__ import annotations

import re
from pathlib import Path

from prefect import runtime, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.states import Completed, State

from monitoring_lib.pipeline.summary import WindowSummary, drift_table, summary_markdown
from monitoring_lib.records import MetricRecord
from tasks import timeouts


def artifact_key(model: str, kind: str) -> str:
    """Prefect keys allow lowercase letters, digits and dashes only."""
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-") or "model"
    return f"{slug}-{kind}"


@task(name="publish artifacts", cache_policy=NO_CACHE, timeout_seconds=timeouts.QUICK)
def publish_artifacts_task(
    summary: WindowSummary, records: list[MetricRecord], baseline: dict[str, float] | None = None
) -> None:
    title = f"{summary.model} {summary.window}: {summary.status.upper()}"
    create_markdown_artifact(
        summary_markdown(summary, baseline),
        key=artifact_key(summary.model, "summary"),
        description=f"{title}, decision {summary.decision}: monitoring summary",
    )
    create_table_artifact(
        drift_table(records),
        key=artifact_key(summary.model, "drift"),
        description=f"{title}: per-column drift",
    )
    links = dict(summary.links)
    report = links.get("HTML report") or (
        Path(summary.report_path).as_uri() if summary.report_path else None
    )
    if report:
        create_link_artifact(
            report,
            link_text=f"HTML report {title}",
            key=artifact_key(summary.model, "report"),
            description=f"{title}: HTML drift report with driftwise's verdict",
        )
    if "history" in links:
        create_link_artifact(
            links["history"],
            link_text=f"{summary.model} history (drift, quality, decisions over time)",
            key=artifact_key(summary.model, "history"),
            description=f"{summary.model}: time-series page, updated by {summary.window}",
        )


DEGRADED = "degraded"
"""Tag, state name (capitalised) and artifact kind of a run that did its work but could not
deliver what it had to say."""


@task(name="mark run degraded", cache_policy=NO_CACHE, timeout_seconds=timeouts.QUICK)
def mark_degraded_task(model: str, message: str) -> None:
    """Say it where people look: an artifact and a 'degraded' tag on the flow run."""
    create_markdown_artifact(
        f"**Degraded**: {message}",
        key=artifact_key(model, DEGRADED),
        description=f"{model}: the run completed, but degraded",
    )
    flow_run_id = runtime.flow_run.id
    if flow_run_id:
        with get_client(sync_client=True) as client:
            tags = client.read_flow_run(flow_run_id).tags
            client.update_flow_run(flow_run_id, tags=sorted({*tags, DEGRADED}))


def degraded_state(model: str, message: str, result: object) -> State:
    """A Completed state named 'Degraded' (with the artifact and tag), carrying the result."""
    mark_degraded_task(model, message)
    return Completed(name=DEGRADED.capitalize(), message=message, data=result)
