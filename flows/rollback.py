"""Rollback: point the champion back to the last version marked good, or raise a critical alert."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, runtime
from pydantic import BaseModel, Field

from flows.form import optional_in_form
from monitoring_lib.spec.monitor import load_spec
from tasks.actions import rollback_task
from tasks.monitoring import critical_notice_task, deliver_alerts_task
from tasks.run_labels import label_this_run, model_tag, spec_run_name


class RollbackParams(BaseModel):
    """Why roll back, and who asks."""

    spec_path: str = Field(description="Path of the monitor spec (YAML).")
    reason: str = Field(default="requested by hand", description="Why roll back.")
    decided_by: str = Field(default="operator", description="Who asks (a person, or 'policy').")
    as_of: datetime | None = Field(
        default=None,
        json_schema_extra=optional_in_form,
        description="Time of the decision. Empty: the run's scheduled time.",
    )


@flow(name="rollback-model", flow_run_name=spec_run_name("rollback"))
def rollback_model(params: RollbackParams) -> dict[str, Any]:
    """Idempotent: a second rollback to the same good version changes nothing more."""
    spec = load_spec(params.spec_path)
    label_this_run(tags=[model_tag(spec.name)])
    now = params.as_of or runtime.flow_run.scheduled_start_time or datetime.now(UTC)
    result = rollback_task(
        spec, params.reason, now, params.decided_by, str(runtime.flow_run.id or "") or None
    )
    if result.needs_critical_alert and critical_notice_task(
        spec, "rollback", "; ".join(result.reasons), now
    ):
        deliver_alerts_task(spec)
    return {
        "status": result.status.value,
        "from_version": result.from_version,
        "to_version": result.to_version,
        "reasons": list(result.reasons),
    }
