"""Backfill: the monitor flow over a date range, idempotent per window, with one summary."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field, model_validator

from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.spec.monitor import load_spec
from monitoring_lib.windows import windows_between
from tasks.artifacts import artifact_key
from tasks.monitoring import completed_windows_task, fill_rollups_task


class BackfillParams(BaseModel):
    """Which windows to (re)compute."""

    spec_path: str = Field(description="Path of the monitor spec (YAML).")
    start: date = Field(description="Local date of the first window.")
    end: date = Field(description="Local date of the last window (inclusive).")
    recompute: bool = Field(
        default=False,
        description="Recompute windows already complete (otherwise they are skipped).",
    )
    concurrency: int = Field(
        default=2, ge=1, le=16, description="Windows computed at once for this model."
    )
    write_reports: bool = Field(
        default=True, description="Write an Evidently HTML report per window."
    )
    send_alerts: bool = Field(
        default=False,
        description="Raise and deliver per-window alerts (off: the one summary only).",
    )
    allow_actions: bool = Field(
        default=False, description="Let windows start retraining or rollback."
    )
    use_current_reference: bool = Field(
        default=False,
        description="Recompute windows against today's reference even if another was in force.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> BackfillParams:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


@task(name="backfill window", cache_policy=NO_CACHE)
def backfill_window(params: MonitorParams) -> dict[str, Any]:
    """Each window is its own monitor run, so the UI shows it with its own artifacts and logs."""
    return monitor_model(params)


@flow(name="backfill-model", flow_run_name="backfill {params.start}..{params.end}")
def backfill_model(params: BackfillParams) -> list[dict[str, Any]]:
    """Compute every window in the range; skip complete ones unless asked to recompute."""
    spec = load_spec(params.spec_path)
    windows = list(
        windows_between(params.start, params.end, spec.window.length, spec.window.timezone)
    )
    done = set() if params.recompute else completed_windows_task(spec, windows)
    todo = [w for w in windows if w.start not in done]

    results: list[dict[str, Any]] = []
    for first in range(0, len(todo), params.concurrency):
        batch = todo[first : first + params.concurrency]
        futures = [
            backfill_window.submit(
                MonitorParams(
                    spec_path=params.spec_path,
                    window_end=w.end,
                    write_report=params.write_reports,
                    send_alerts=params.send_alerts,
                    allow_actions=params.allow_actions,
                    use_current_reference=params.use_current_reference,
                )
            )
            for w in batch
        ]
        results += [future.result() for future in futures]
    if spec.rollups and windows:  # the windows ran side by side: roll up once they all have
        fill_rollups_task(spec, windows[0].start, windows[-1].end)

    rows = [
        {"window": w.label, "outcome": "skipped (complete)"} for w in windows if w.start in done
    ]
    rows += [
        {"window": r["window"], "outcome": r["status"], "drift share": r["drift_share"]}
        for r in results
    ]
    create_table_artifact(
        sorted(rows, key=lambda row: str(row["window"])),
        key=artifact_key(spec.name, "backfill"),
        description=f"Backfill of {spec.name}, {params.start} to {params.end}",
    )
    return results
