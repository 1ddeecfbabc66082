"""A short demo through Prefect: quiet while nothing changes, then detection and retraining."""

from __future__ import annotations

from statistics import mean

import pytest
from sqlalchemy import select

from flows.demo import run_demo
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.store.engine import open_store
from monitoring_lib.store.models import Action

pytestmark = pytest.mark.prefect


def test_short_demo_tells_the_whole_story() -> None:
    run = run_demo(days=26, change_after=12, rows_per_day=900)
    stationary = [d for d in run.days if d["world"] == "stationary"]
    changed = [d for d in run.days if d["world"] == "changed"]

    assert [d["decision"] for d in stationary] == ["none"] * 12
    assert all(d["drift_share"] == 0 for d in stationary)
    assert all(d["drift_share"] >= 0.3 for d in changed[:3])
    before = mean(d["quality"]["accuracy"] for d in stationary)
    assert mean(d["quality"]["accuracy"] for d in changed[:3]) < before - 0.08

    with open_store(DriftwiseSettings().store_url)() as session:
        story = [(a.kind, a.status) for a in session.scalars(select(Action).order_by(Action.id))]
    assert ("retrain", "promoted") in story
    assert ("gate", "promoted") in story
    assert run.days[-1]["champion"] > 1
    assert run.days[-1]["drift_share"] == 0  # the promoted model's training data is the reference
