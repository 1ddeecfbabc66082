"""Rollback and retraining subflows through Prefect, on PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.flow_runs import resume_flow_run
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flows.monitor import MonitorParams, monitor_model
from flows.retrain import RetrainParams, retrain_model
from flows.rollback import RollbackParams, rollback_model
from monitoring_lib.actions.registry import CHAMPION
from monitoring_lib.actions.store_registry import StoreRegistry
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.store.models import Action, Alert
from monitoring_lib.store.repository import ensure_model
from tests.flows.helpers import write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 5, 1) + timedelta(days=i) for i in range(3)]
NOW = datetime(2024, 5, 10, tzinfo=UTC)
ACTIONS = {
    "retrain": {
        "trainer": "monitoring_lib.example_trainer:train",
        "metric": "quality.roc_auc",
        "min_labelled_rows": 50,
        "approval": {"required": True, "timeout": "3s"},
    },
    "rollback": {"within": "14d"},
}
ALERTS = {"channels": [{"type": "webhook", "url_env": "ONCALL_URL", "min_severity": "high"}]}


def versions(engine: Engine, *, good: list[bool]) -> None:
    """Register one version per flag (picklable stand-ins); the last one is champion."""
    with Session(engine) as session, session.begin():
        ensure_model(session, "credit-default", "binary")
        registry = StoreRegistry(session, DriftwiseSettings().artifacts)
        for index, is_good in enumerate(good, start=1):
            version = registry.register(
                "credit-default", {"model": index}, {"quality.roc_auc": 0.7}, {}
            )
            registry.mark_good("credit-default", version, is_good)
            registry.set_alias("credit-default", CHAMPION, version)


def champion(engine: Engine) -> int | None:
    with Session(engine) as session:
        return StoreRegistry(session, DriftwiseSettings().artifacts).get_alias(
            "credit-default", CHAMPION
        )


def story(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        return [(a.kind, a.status) for a in session.scalars(select(Action).order_by(Action.id))]


def test_rollback_twice_gives_the_same_state(tmp_path: Path, pg_store: Engine) -> None:
    spec = write_spec_file(tmp_path, DAYS[:1], extra={"actions": ACTIONS})
    versions(pg_store, good=[True, False])
    params = RollbackParams(spec_path=str(spec), reason="critical accuracy drop", as_of=NOW)
    first = rollback_model(params)
    assert (first["from_version"], first["to_version"]) == (2, 1)
    assert champion(pg_store) == 1
    second = rollback_model(params)
    assert second["status"] == "skipped"
    assert champion(pg_store) == 1
    assert [s for s in story(pg_store) if s[0] == "rollback"] == [
        ("rollback", "rolled_back"),
        ("rollback", "skipped"),
    ]


def test_rollback_without_a_good_version_changes_nothing_and_raises_a_critical_alert(
    tmp_path: Path, pg_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONCALL_URL", "http://127.0.0.1:9/unreachable")  # queued; delivery may fail
    spec = write_spec_file(tmp_path, DAYS[:1], extra={"actions": ACTIONS, "alerts": ALERTS})
    versions(pg_store, good=[False, False])
    result = rollback_model(
        RollbackParams(spec_path=str(spec), reason="critical accuracy drop", as_of=NOW)
    )
    assert result["status"] == "failed"
    assert champion(pg_store) == 2
    with Session(pg_store) as session:
        severities = session.scalars(select(Alert.severity)).all()
    assert severities == ["critical"]


def test_an_unanswered_approval_means_no_promotion(tmp_path: Path, pg_store: Engine) -> None:
    # The world changed, so a challenger trained on it beats the serving model: only the approval
    # is missing.
    retrain = {**ACTIONS["retrain"], "include_reference": False}
    actions = {**ACTIONS, "retrain": retrain}
    spec = write_spec_file(tmp_path, DAYS, changed_from=DAYS[0], extra={"actions": actions})
    for day in DAYS:
        monitor_model(
            MonitorParams(
                spec_path=str(spec), window_date=day, write_report=False, allow_actions=False
            )
        )
    assert champion(pg_store) == 1  # the serving model, registered at the first run
    result = retrain_model(RetrainParams(spec_path=str(spec), as_of=NOW))
    assert result["status"] == "rejected"
    assert champion(pg_store) == 1
    with Session(pg_store) as session:
        promote = session.scalars(select(Action).where(Action.kind == "promote")).one()
        gate = session.scalars(select(Action).where(Action.kind == "gate")).one()
    assert promote.status == "rejected"
    assert promote.decided_by == "timeout"
    assert gate.status == "promoted"  # the gate passed against the serving model's predictions
    assert gate.metrics["champion_version"] == 1
    assert "scored from its logged predictions" in gate.reasons[-1]


def test_a_rejection_through_the_prefect_input_form_means_no_promotion(
    tmp_path: Path, pg_store: Engine
) -> None:
    """The retraining pauses for approval; a person answers 'no' through Prefect's input form."""
    retrain = {**ACTIONS["retrain"], "include_reference": False}
    retrain["approval"] = {"required": True, "timeout": "1h"}
    spec = write_spec_file(
        tmp_path, DAYS, changed_from=DAYS[0], extra={"actions": {"retrain": retrain}}
    )
    for day in DAYS:
        monitor_model(
            MonitorParams(
                spec_path=str(spec), window_date=day, write_report=False, allow_actions=False
            )
        )
    outcome: dict[str, Any] = {}
    params = RetrainParams(spec_path=str(spec), as_of=NOW)
    worker = threading.Thread(target=lambda: outcome.update(result=retrain_model(params)))
    worker.start()
    try:
        paused = wait_for_paused_retraining()
        resume_flow_run(
            paused, run_input={"approve": False, "decided_by": "alice@example.com", "note": "no"}
        )
    finally:
        worker.join(timeout=300)
    assert not worker.is_alive()
    assert outcome["result"]["status"] == "rejected"
    assert champion(pg_store) == 1
    with Session(pg_store) as session:
        promote = session.scalars(select(Action).where(Action.kind == "promote")).one()
    assert (promote.status, promote.decided_by) == ("rejected", "alice@example.com")


def wait_for_paused_retraining() -> UUID:
    deadline = time.monotonic() + 300
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            for run in client.read_flow_runs():
                if " retrain " in f" {run.name} " and run.state and run.state.is_paused():
                    return run.id
            time.sleep(0.5)
    raise AssertionError("the retraining never paused for approval within 300 s")
