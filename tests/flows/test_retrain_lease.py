"""The retrain lease through Prefect on PostgreSQL: a retraining killed with SIGKILL mid-training
leaves its flow run Running and its lease held; its heartbeat stops, so the next retraining
takes the lease over, marks the dead run Crashed, and proceeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.settings import get_current_settings
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flows.retrain import RetrainParams, retrain_model
from monitoring_lib.store.models import Action
from tests.flows.helpers import write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 5, 1)]
AS_OF = datetime(2024, 5, 10, tzinfo=UTC)
STALE_AFTER = 2.0
ACTIONS = {
    "retrain": {
        "trainer": "tests.flows.blocking_trainer:train",
        "metric": "quality.roc_auc",
        "min_labelled_rows": 50,
        "stale_after": f"{STALE_AFTER:g}s",
    }
}
SCRIPT = """
import sys
from datetime import datetime
from flows.retrain import RetrainParams, retrain_model
retrain_model(RetrainParams(spec_path=sys.argv[1], as_of=datetime.fromisoformat(sys.argv[2])))
"""


def retrain_rows(engine: Engine) -> list[Action]:
    with Session(engine) as session:
        query = select(Action).where(Action.kind == "retrain").order_by(Action.id)
        return list(session.scalars(query))


def wait_for(condition: object, what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while not condition():  # type: ignore[operator]
        assert process.poll() is None, f"the retraining process ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within 300 s"
        time.sleep(0.2)


def test_a_retraining_killed_mid_training_is_crashed_and_the_next_one_proceeds(
    tmp_path: Path, pg_store: Engine
) -> None:
    spec = write_spec_file(tmp_path, DAYS, rows=150, extra={"actions": ACTIONS})
    mark = tmp_path / "training-started"
    env = {
        **os.environ,
        "PREFECT_API_URL": str(get_current_settings().api.url),
        "BLOCKING_TRAINER_MARK": str(mark),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(spec), AS_OF.isoformat()],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(mark.exists, "training start", process)
        first = retrain_rows(pg_store)[0]
        wait_for(  # the lease is renewed while it trains
            lambda: retrain_rows(pg_store)[0].heartbeat_at != first.heartbeat_at,
            "heartbeat",
            process,
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert first.status == "running"
    assert first.flow_run_id is not None

    # Nothing renews the dead run's lease; once it is older than stale_after, it is free.
    last_beat = retrain_rows(pg_store)[0].heartbeat_at
    assert last_beat is not None
    while datetime.now(UTC) - last_beat <= timedelta(seconds=STALE_AFTER + 1):
        time.sleep(0.2)
    result = retrain_model(RetrainParams(spec_path=str(spec), as_of=AS_OF + timedelta(days=8)))
    assert result["status"] in {"promoted", "rejected"}  # it ran to the gate

    killed, second = retrain_rows(pg_store)
    assert killed.status == "failed"
    assert (killed.outcome or "").startswith("abandoned: no heartbeat for 2s")
    assert second.status == result["status"]
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(UUID(killed.flow_run_id)).state
    assert state is not None
    assert state.is_crashed()
