"""Row-count rules and the built-in data-missing rule: an empty window is judged, a thin one is a
volume anomaly against the stored history, and neither starts a retraining."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring_lib.pipeline.summary import summarize
from monitoring_lib.policy.followup import FollowUp, follow_up, held_back
from monitoring_lib.policy.rules import evaluate
from monitoring_lib.policy.thresholds import WindowMetrics
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.actions import ActionsSpec
from monitoring_lib.spec.base import Decision
from monitoring_lib.spec.policy import DATA_MISSING, PolicySpec

T0 = datetime(2024, 5, 10, tzinfo=UTC)
DAY = timedelta(days=1)


def rows(count: int) -> MetricRecord:
    if count == 0:
        reason = {"reason": "no predictions in this window"}
        return MetricRecord(Metric.ROW_COUNT, 0.0, MetricStatus.INSUFFICIENT_DATA, details=reason)
    return MetricRecord(Metric.ROW_COUNT, float(count))


def history(*counts: int) -> list[WindowMetrics]:
    start = T0 - len(counts) * DAY
    return [WindowMetrics.of(start + i * DAY, [rows(c)]) for i, c in enumerate(counts)]


def verdict(policy: PolicySpec, count: int, earlier: list[WindowMetrics]) -> dict[str, bool]:
    evaluation = evaluate(
        policy, window_start=T0, current={(Metric.ROW_COUNT, "", ""): rows(count)},
        history=earlier, baseline={}, state={},
    )  # fmt: skip
    return {r.rule: r.firing for r in evaluation.results}


def test_a_row_count_rule_fires_on_an_empty_window() -> None:
    policy = PolicySpec.model_validate(
        {"rules": [{"name": "feed", "metric": "window.row_count", "direction": "below",
                    "threshold": 1}]}
    )  # fmt: skip
    assert verdict(policy, 0, []) == {"feed": True}
    assert verdict(policy, 3, []) == {"feed": False}


@pytest.mark.parametrize(
    ("count", "earlier", "fires"),
    [
        (0, [], True),  # no history yet: an empty window still fires
        (5, [], False),  # ... but a thin one cannot be judged without a volume
        (0, [1000, 1000, 1000], True),
        (400, [1000, 900, 1100], True),  # below half the median volume (1000)
        (600, [1000, 900, 1100], False),
        (600, [0, 0, 1000, 1200, 1000], False),  # past outages do not drag the median to 0
    ],
)
def test_the_built_in_rule_learns_the_volume_from_stored_windows(
    count: int, earlier: list[int], fires: bool
) -> None:
    policy = PolicySpec.model_validate({"data_missing": {"fraction": 0.5}})
    assert verdict(policy, count, history(*earlier)) == {DATA_MISSING: fires}


def test_data_missing_alerts_by_default_and_never_retrains() -> None:
    policy = PolicySpec.model_validate({"data_missing": {}})
    (rule,) = policy.rules
    assert (rule.action, rule.severity.value) == (Decision.ALERT, "high")
    with pytest.raises(ValueError, match=r"data_missing\.action"):
        PolicySpec.model_validate({"data_missing": {"action": "retrain"}})
    assert len(PolicySpec.model_validate(policy.model_dump(mode="json")).rules) == 1
    assert policy.history_windows == 14


def test_a_volume_threshold_is_only_a_floor() -> None:
    rule = {"name": "v", "metric": "window.row_count", "direction": "above",
            "threshold": {"kind": "volume", "fraction": 0.5}}  # fmt: skip
    with pytest.raises(ValueError, match="direction must be 'below'"):
        PolicySpec.model_validate({"rules": [rule]})


def test_an_empty_window_starts_no_action_and_says_so() -> None:
    policy = PolicySpec.model_validate(
        {"rules": [{"name": "feed", "metric": "window.row_count", "direction": "below",
                    "threshold": 1, "action": "retrain"}]}
    )  # fmt: skip
    evaluation = evaluate(
        policy, window_start=T0, current={(Metric.ROW_COUNT, "", ""): rows(0)},
        history=[], baseline={}, state={},
    )  # fmt: skip
    actions = ActionsSpec.model_validate(
        {"retrain": {"trainer": "monitoring_lib.example_trainer:train", "metric": "quality.f1"}}
    )
    assert evaluation.decision is Decision.RETRAIN
    assert follow_up(evaluation, actions, rows=0) is FollowUp.NOTHING
    assert follow_up(evaluation, actions, rows=10) is FollowUp.RETRAIN
    assert held_back(evaluation, 0) == "retrain: not started, the window has no predictions"


@pytest.mark.parametrize(("fired", "status"), [(False, "amber"), (True, "red")])
def test_an_empty_window_is_never_green(fired: bool, status: str) -> None:
    summary = summarize("m", "2024-05-10", [rows(0)], rule_fired=fired)
    assert summary.status == status
    assert summarize("m", "2024-05-10", [rows(10)]).status == "green"
