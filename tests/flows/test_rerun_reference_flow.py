"""Through Prefect on PostgreSQL: a rerun of a window after the reference changed is refused with
the reason and leaves the window as it was, unless today's reference is asked for."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from flows.monitor import MonitorParams, monitor_model
from monitoring_lib import demo_data
from monitoring_lib.pipeline.reruns import ReferenceChangedError
from monitoring_lib.store.models import Run
from tests.credit_world import scored
from tests.flows.helpers import metric_rows, write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAY = date(2024, 5, 1)


def run_hash(engine: Engine) -> str | None:
    with Session(engine) as session:
        return session.execute(select(Run.reference_hash)).scalar_one()


def test_a_rerun_against_a_new_reference_is_refused_unless_asked(
    tmp_path: Path, pg_store: Engine
) -> None:
    spec = write_spec_file(tmp_path, [DAY])
    params = MonitorParams(spec_path=str(spec), window_date=DAY, write_report=False)
    first = monitor_model(params)
    before, first_hash = metric_rows(pg_store), run_hash(pg_store)
    assert first_hash is not None
    assert first["drift_share"] < 0.3

    # the team adopts a new reference: the changed world's applicants
    rng = np.random.default_rng(5)
    changed = demo_data.applicants(3_000, demo_data.CHANGED, rng)
    outcome = rng.random(len(changed)) < demo_data.default_probability(changed, demo_data.CHANGED)
    scored(changed.assign(defaulted=outcome.astype(int))).to_parquet(
        spec.parent / "reference.parquet"
    )

    with pytest.raises(
        ReferenceChangedError, match=r"2024-05-01: this window was computed against"
    ):
        monitor_model(params)
    assert metric_rows(pg_store) == before  # nothing was overwritten
    assert run_hash(pg_store) == first_hash

    forced = monitor_model(params.model_copy(update={"use_current_reference": True}))
    assert forced["drift_share"] > first["drift_share"]  # today's reference: the day now drifts
    assert run_hash(pg_store) not in (None, first_hash)
