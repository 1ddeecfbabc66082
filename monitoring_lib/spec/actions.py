"""The ``actions:`` section of a monitor spec: how retraining, its gate and rollback behave."""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from monitoring_lib.durations import Duration
from monitoring_lib.records import TASK_METRICS, metric_direction
from monitoring_lib.spec.base import Severity, Strict

TRAINER_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


class ApprovalSpec(Strict):
    required: bool = False
    """Wait for a person to approve a promotion the gate allowed."""
    timeout: Duration = timedelta(hours=24)
    """How long to wait; no answer in time means no promotion."""


class RetrainSpec(Strict):
    trainer: str
    """The user's trainer as 'module:function', imported when a retraining starts."""
    metric: str
    """The gate's metric, e.g. 'quality.roc_auc' (higher is better) or 'quality.rmse' (lower)."""
    margin: float = Field(default=0.0, ge=0)
    """How much better (in the metric's units) the challenger must be; 0 means strictly better."""
    windows: int = Field(default=7, ge=1)
    """How many recent labelled windows the training set is built from."""
    include_reference: bool = True
    """Add the reference (training) data to the recent windows."""
    min_labelled_rows: int = Field(default=200, ge=2)
    """Fewer labelled rows than this: no retraining (recorded as failed, with the count)."""
    holdout_fraction: float = Field(default=0.25, gt=0, lt=1)
    """Share of the labelled rows held out to score champion and challenger alike."""
    seed: int = 0
    """Seed of the holdout split, so a rerun scores on the same rows."""
    cooldown: Duration = timedelta(days=7)
    """At most one retraining started per cooldown, whatever its outcome."""
    stale_after: Duration = timedelta(minutes=10)
    """A running retraining whose heartbeat (renewed every quarter of this, wall clock) stopped
    this long ago is taken as abandoned: its flow died. A live one is never run twice."""
    approval: ApprovalSpec = ApprovalSpec()
    """Optional human approval before a promotion."""

    @field_validator("trainer")
    @classmethod
    def _dotted_path(cls, value: str) -> str:
        if not TRAINER_PATH.match(value):
            raise PydanticCustomError(
                "trainer",
                "'{value}' is not a 'module:function' path "
                "(e.g. 'monitoring_lib.example_trainer:train')",
                {"value": value},
            )
        return value

    @field_validator("metric")
    @classmethod
    def _comparable(cls, value: str) -> str:
        if metric_direction(value) is None:
            known = sorted({str(m) for metrics in TASK_METRICS.values() for m in metrics})
            raise PydanticCustomError(
                "metric", "'{value}' cannot gate a promotion; use one of: {known}",
                {"value": value, "known": ", ".join(known)},
            )  # fmt: skip
        return value


class RollbackSpec(Strict):
    within: Duration = timedelta(days=3)
    """A degradation this long after a promotion rolls back; later, the version is kept."""
    on_severity: Severity = Severity.CRITICAL
    """The least severe finding that triggers a rollback."""


class ActionsSpec(Strict):
    """Retraining and rollback settings: the ``actions:`` section of a monitor spec."""

    retrain: RetrainSpec | None = None
    """Absent: the monitor never retrains."""
    rollback: RollbackSpec | None = None
    """Absent: the monitor never rolls back."""


def task_problems(actions: ActionsSpec, task: str) -> list[str]:
    """Settings that do not fit the model's task (e.g. ROC AUC to gate a regression)."""
    if actions.retrain is None or actions.retrain.metric in TASK_METRICS[task]:
        return []
    fits = ", ".join(TASK_METRICS[task])
    return [f"actions.retrain.metric: {actions.retrain.metric!r} is not a {task} metric ({fits})"]
