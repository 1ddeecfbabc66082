"""A short demo through Prefect: quiet while nothing changes, a correlation flip only the
multivariate detector sees, a service incident that burns the error budget, then detection and
retraining."""

from __future__ import annotations

import asyncio
from datetime import datetime, time
from statistics import mean
from zoneinfo import ZoneInfo

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sqlalchemy import select

from flows.demo import run_demo
from monitoring_lib import demo
from monitoring_lib.policy.store import replay_policy
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec.monitor import load_spec
from monitoring_lib.store.engine import open_store
from monitoring_lib.store.models import Action, PolicyEvaluation
from tasks.artifacts import artifact_key

pytestmark = pytest.mark.prefect


async def summary_artifacts(spec_name: str) -> list[str]:
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[artifact_key(spec_name, "summary")])
            )
        )
    return [str(artifact.data) for artifact in artifacts]


def test_short_demo_tells_the_whole_story() -> None:
    run = run_demo(days=26, change_after=12, rows_per_day=900)
    stationary = [d for d in run.days if d["world"] == "stationary"]
    flipped = [d for d in run.days if d["world"] == "corr. flip"]
    incident = [d for d in run.days if d["world"] == "incident"]
    changed = [d for d in run.days if d["world"] == "changed"]
    assert [d["world"] for d in run.days[:12]] == [
        *["stationary"] * 4, *["corr. flip"] * 3, "stationary", "incident",
        *["stationary"] * 3,
    ]  # fmt: skip

    assert [d["decision"] for d in stationary] == ["none"] * 8
    assert all(d["drift_share"] == 0 for d in run.days[:12])  # per-column drift sees neither
    assert all(d["drift_share"] >= 0.3 for d in changed[:3])
    before = mean(d["quality"]["accuracy"] for d in stationary)
    assert mean(d["quality"]["accuracy"] for d in changed[:3]) < before - 0.08

    with open_store(DriftwiseSettings().store_url)() as session:
        story = [(a.kind, a.status) for a in session.scalars(select(Action).order_by(Action.id))]
    assert ("retrain", "promoted") in story
    assert ("gate", "promoted") in story
    assert run.days[-1]["champion"] > 1
    assert run.days[-1]["drift_share"] == 0  # the promoted model's training data is the reference

    # The gate's reason is in the run's result and its summary artifact, not only in a log.
    promoted = [r for d in run.days for r in d["reasons"] if r.startswith("retraining: promoted")]
    assert promoted
    assert all(">= margin" in reason for reason in promoted)
    summaries = asyncio.run(summary_artifacts(demo.MODEL))
    assert any(promoted[0] in summary for summary in summaries)

    # A replay tells the same story: each day against the champion in force then.
    spec = load_spec(run.world.spec_path)
    first, last = run.world.day(0), run.world.day(len(run.days))
    zone = ZoneInfo(demo.TIMEZONE)
    with open_store(DriftwiseSettings().store_url)() as session:
        replayed = replay_policy(
            session, spec.name, spec.policy,
            datetime.combine(first, time(0), zone), datetime.combine(last, time(0), zone),
        )  # fmt: skip
    assert [e.decision.value for e in replayed] == [d["decision"] for d in run.days]
    assert [e.baseline_version for e in replayed] == [
        run.days[i - 1]["champion"] if i else 1 for i in range(len(run.days))
    ]

    # Each day's summary: quality with intervals, and the estimates while labels are pending.
    for day in run.days:
        accuracy = next(row for row in day["quality_detail"] if row["metric"] == "accuracy")
        assert accuracy["ci_lower"] < accuracy["value"] < accuracy["ci_upper"]
        assert accuracy["estimated"]["value"] is not None
    stationary_gap = [
        abs(row["estimated"]["value"] - row["value"])
        for d in stationary
        for row in d["quality_detail"]
        if row["metric"] == "accuracy"
    ]
    assert mean(stationary_gap) < 0.03  # calibrated on the reference: close before the change

    # The signals: quiet while nothing changes; once it does, drifted columns carry their impact.
    for day in stationary + incident:
        signals = day["signals"]
        assert signals["multivariate"]["status"] == "ok"
        assert 0.9 < signals["multivariate"]["error_ratio"] < 1.1
        assert signals["low_confidence"]["status"] == "ok"
        assert signals["class_shift"]["status"] == "ok"
        assert signals["impact"] == []
    first_changed = changed[0]["signals"]
    assert {row["column"] for row in first_changed["impact"]} == set(changed[0]["drifted_columns"])
    assert all(row["windows"] == 13 for row in first_changed["impact"])

    # The flip: each column as before, the joint distribution not; the rule alerts on day two.
    for day in flipped:
        assert day["signals"]["multivariate"]["status"] == "drift"
        assert day["signals"]["multivariate"]["error_ratio"] > 1.05
        assert day["signals"]["impact"] == []
    assert [d["decision"] for d in flipped] == ["none", "alert", "alert"]
    assert any("joint-drift" in reason for reason in flipped[1]["reasons"])

    # The incident: errors and latency up, SLOs below objective, both burn-rate rules firing.
    quiet = [d["service_figures"] for d in stationary + flipped]
    assert all(s["error_share"] < 0.005 and s["latency_p95"] < 250 for s in quiet)
    assert all(s["slos"]["availability"]["window_good"] >= 0.995 for s in quiet)
    (outage,) = [d["service_figures"] for d in incident]
    assert outage["error_share"] > 0.03
    assert outage["latency_p95"] > 2 * max(s["latency_p95"] for s in quiet)
    before = run.days[7]["service_figures"]["slos"]
    for slo in ("availability", "fast"):
        assert outage["slos"][slo]["compliance"] < before[slo]["compliance"]
        assert outage["slos"][slo]["budget_remaining"] < before[slo]["budget_remaining"] - 0.5
    assert outage["slos"]["availability"]["compliance"] < 0.995
    assert [d["decision"] for d in incident] == ["alert"]
    with open_store(DriftwiseSettings().store_url)() as session:
        verdicts = session.scalars(
            select(PolicyEvaluation)
            .where(PolicyEvaluation.rule.in_(["availability-burn", "fast-burn"]))
            .order_by(PolicyEvaluation.window_start)
        ).all()
    for rule in ("availability-burn", "fast-burn"):
        firing = [v.firing for v in verdicts if v.rule == rule]
        assert firing == [d["world"] == "incident" for d in run.days]
