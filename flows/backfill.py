"""Backfill: the monitor flow over a date range, idempotent per window, with one summary.

Every window runs even when others fail; the summary lists the failed ones and the backfill
ends Failed with "k of n windows failed: ...". A rerun skips the windows already stored by
this code version, so it touches only the failed and missing ones (``recompute`` redoes all)."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.states import Failed, State
from pydantic import BaseModel, Field, model_validator

import driftwise
from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec.monitor import load_spec
from monitoring_lib.windows import windows_between
from tasks.artifacts import artifact_key
from tasks.monitoring import completed_windows_task, deliver_alerts_task, fill_rollups_task
from tasks.pages import history_page_task


class BackfillParams(BaseModel):
    """Which windows to (re)compute."""

    spec_path: str = Field(description="Path of the monitor spec (YAML).")
    start: date = Field(description="Local date of the first window.")
    end: date = Field(description="Local date of the last window (inclusive).")
    recompute: bool = Field(
        default=False,
        description=(
            "Recompute windows already complete (otherwise those stored by this code version are "
            "skipped, so a rerun touches only failed, missing or older-code windows)."
        ),
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
        default=False,
        description=(
            "Let windows start retraining or rollback, each as of its window's end. Windows then "
            "run one at a time, in order: each decision reads the ones before it."
        ),
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
def backfill_model(params: BackfillParams) -> list[dict[str, Any]] | State:
    """Compute every window in the range; skip complete ones unless asked to recompute.

    A failed window does not stop the others; the run ends Failed, naming the failed windows."""
    spec = load_spec(params.spec_path)
    windows = list(
        windows_between(params.start, params.end, spec.window.length, spec.window.timezone)
    )
    done = (
        set()
        if params.recompute
        else completed_windows_task(spec, windows, code_version=driftwise.__version__)
    )
    todo = [w for w in windows if w.start not in done]

    results: list[dict[str, Any]] = []
    failures: list[tuple[str, str]] = []
    at_once = 1 if params.allow_actions else params.concurrency
    for first in range(0, len(todo), at_once):
        batch = todo[first : first + at_once]
        futures = [
            backfill_window.submit(
                MonitorParams(
                    spec_path=params.spec_path,
                    window_end=w.end,
                    as_of=w.end,
                    write_report=params.write_reports,
                    write_history=False,
                    send_alerts=params.send_alerts,
                    allow_actions=params.allow_actions,
                    use_current_reference=params.use_current_reference,
                )
            )
            for w in batch
        ]
        for window, future in zip(batch, futures, strict=True):
            outcome = _outcome(future)
            if isinstance(outcome, str):
                failures.append((window.label, outcome))
            else:
                results.append(outcome)
    if spec.rollups and windows:  # the windows ran side by side: roll up once they all have
        fill_rollups_task(spec, windows[0].start, windows[-1].end, params.send_alerts)
        if params.send_alerts and spec.alerts.channels:
            deliver_alerts_task(spec)
    if todo:  # once, not once per window: each page reads the whole history
        history_page_task(spec, DriftwiseSettings().artifacts)

    rows: list[dict[str, Any]] = [
        {"window": w.label, "outcome": "skipped (complete)"} for w in windows if w.start in done
    ]
    rows += [
        {"window": r["window"], "outcome": r["status"], "drift share": r["drift_share"]}
        for r in results
    ]
    rows += [{"window": label, "outcome": f"failed: {error}"} for label, error in failures]
    summary = failure_summary(failures, len(todo))
    create_table_artifact(
        sorted(rows, key=lambda row: str(row["window"])),
        key=artifact_key(spec.name, "backfill"),
        description=f"Backfill of {spec.name}, {params.start} to {params.end}"
        + (f": {summary}" if summary else ""),
    )
    if summary:
        get_run_logger().error(summary)
        return Failed(message=summary, data=results)
    return results


def _outcome(future: PrefectFuture[dict[str, Any]]) -> dict[str, Any] | str:
    """The window's result, or why it failed (one line, bounded), without raising."""
    result = future.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        text = f"{type(result).__name__}: {result}".splitlines()[0]
        return text[:300]
    if isinstance(result, dict):
        return result
    return f"no result ({future.state.name})"


def failure_summary(failures: list[tuple[str, str]], computed: int) -> str | None:
    """'2 of 30 windows failed: 2024-05-02 (...); ...', or None when none failed."""
    if not failures:
        return None
    listed = "; ".join(f"{label} ({error})" for label, error in sorted(failures))
    return f"{len(failures)} of {computed} windows failed: {listed}"
