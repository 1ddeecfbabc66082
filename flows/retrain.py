"""Retraining: train a challenger on recent labelled windows, gate it against the champion on the
same holdout, optionally ask a person, and promote only a better model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, runtime
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, Field

from flows.form import optional_in_form
from monitoring_lib.actions.gate import Approval, ApprovalVerdict, GateResult, decide_promotion
from monitoring_lib.actions.log import ActionStatus
from monitoring_lib.spec.actions import RetrainSpec
from monitoring_lib.spec.monitor import MonitorSpec, load_spec
from tasks.actions import (
    claim_retrain_task,
    finish_retrain_task,
    lease_heartbeat,
    promote_task,
    register_and_gate_task,
    release_crashed_lease,
    score_task,
    train_task,
    training_set_task,
)
from tasks.run_labels import label_this_run, model_tag, spec_run_name


class RetrainParams(BaseModel):
    """Why and as of when to retrain."""

    spec_path: str = Field(description="Path of the monitor spec (YAML).")
    reasons: list[str] = Field(
        default_factory=lambda: ["requested by hand"], description="Why retrain."
    )
    as_of: datetime | None = Field(
        default=None,
        json_schema_extra=optional_in_form,
        description="Train on what was known then (labels, cooldown). Empty: the scheduled time.",
    )
    window_start: datetime | None = Field(
        default=None,
        json_schema_extra=optional_in_form,
        description="The window whose verdict asked for it.",
    )


class PromotionApproval(RunInput):
    """Promote the challenger? Answer in the Prefect UI before the pause times out."""

    approve: bool = Field(description="Promote the challenger to champion.")
    decided_by: str = Field(description="Who decides (name or e-mail).")
    note: str = Field(default="", description="Why.")


def _ask_for_approval(gate: GateResult, timeout_seconds: int) -> Approval:
    """Pause the run for a person; a timeout counts as 'no'."""
    try:
        answer = pause_flow_run(
            wait_for_input=PromotionApproval.with_initial_data(
                description=f"Challenger gate: {'; '.join(gate.reasons)}",
                approve=False,
                decided_by="",
            ),
            timeout=timeout_seconds,
        )
    except FlowPauseTimeout:
        return Approval(ApprovalVerdict.TIMED_OUT, decided_by="timeout")
    verdict = ApprovalVerdict.APPROVED if answer.approve else ApprovalVerdict.REJECTED
    return Approval(verdict, decided_by=answer.decided_by or "unknown", note=answer.note or None)


@flow(
    name="retrain-model",
    flow_run_name=spec_run_name("retrain"),
    on_crashed=[release_crashed_lease],
)
def retrain_model(params: RetrainParams) -> dict[str, Any]:
    """Claim, build the training set, train, score, gate, (approve), promote or keep."""
    spec = load_spec(params.spec_path)
    label_this_run(tags=[model_tag(spec.name)])
    settings = spec.actions.retrain
    if settings is None:
        raise ValueError(
            f"{params.spec_path}: actions.retrain is not configured, so there is nothing to retrain"
        )
    now = params.as_of or runtime.flow_run.scheduled_start_time or datetime.now(UTC)
    run_id = str(runtime.flow_run.id or "") or None

    claim = claim_retrain_task(spec, settings, now, params.reasons, run_id, params.window_start)
    if not claim.granted:
        return {"status": "skipped", "reasons": list(claim.reasons)}
    with lease_heartbeat(claim.action_id, settings.stale_after):
        return _retrain(spec, settings, claim.action_id, now, run_id)


def _retrain(
    spec: MonitorSpec,
    settings: RetrainSpec,
    action_id: int,
    now: datetime,
    run_id: str | None,
) -> dict[str, Any]:
    """The steps under the lease; the retrain row is closed with their outcome."""
    try:
        holdout = training_set_task(spec, settings, now)
        challenger = train_task(spec, settings, holdout)
        contest = score_task(spec, challenger, holdout)
        version, gate = register_and_gate_task(spec, settings, challenger, contest, run_id, now)
        approval = None
        if gate.promote and settings.approval.required:
            approval = _ask_for_approval(gate, int(settings.approval.timeout.total_seconds()))
        decision = decide_promotion(
            gate, approval_required=settings.approval.required, approval=approval
        )
        promote_task(spec, version, decision, now, run_id)
    except Exception as error:
        finish_retrain_task(action_id, ActionStatus.FAILED, f"{type(error).__name__}: {error}", now)
        raise
    status = ActionStatus.PROMOTED if decision.promote else ActionStatus.REJECTED
    finish_retrain_task(
        action_id, status, "; ".join(decision.reasons), now, {"challenger_version": version}
    )
    return {
        "status": status.value,
        "challenger_version": version,
        "reasons": list(decision.reasons),
    }
