"""Roll-up periods: weeks from Monday to Monday and calendar months, local midnight to local
midnight (DST included), each once it is complete; weekly rules need the spec's rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitoring_lib.pipeline.rollups import periods_ending_in
from monitoring_lib.spec.monitor import SpecError, parse_spec

BERLIN = ZoneInfo("Europe/Berlin")


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


def test_weeks_complete_on_local_monday_midnight_across_dst() -> None:
    periods = periods_ending_in("week", "Europe/Berlin", local(2024, 3, 20), local(2024, 4, 8))
    assert [(p.local_start.date().isoformat(), p.hours) for p in periods] == [
        ("2024-03-18", 168.0),
        ("2024-03-25", 167.0),  # DST began on 31 March: a week of 167 hours
        ("2024-04-01", 168.0),
    ]
    assert all(p.local_start.weekday() == 0 and p.local_start.hour == 0 for p in periods)


def test_a_period_is_rolled_up_only_once_it_is_over() -> None:
    sunday_window_end = local(2024, 4, 8)  # the Sunday window ends on Monday midnight
    assert periods_ending_in("week", "Europe/Berlin", sunday_window_end - timedelta(days=1),
                             sunday_window_end)[0].local_start.day == 1  # fmt: skip
    saturday_window_end = local(2024, 4, 7)
    assert (
        periods_ending_in(
            "week", "Europe/Berlin", saturday_window_end - timedelta(days=1), saturday_window_end
        )
        == []
    )


def test_months_are_calendar_months() -> None:
    periods = periods_ending_in(
        "month", "UTC", datetime(2023, 12, 15, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    )
    assert [(p.label, p.hours / 24) for p in periods] == [
        ("2023-12-01", 31.0), ("2024-01-01", 31.0), ("2024-02-01", 29.0),
    ]  # fmt: skip


def test_a_weekly_rule_needs_weekly_rollups() -> None:
    data = {
        "name": "m", "task": "regression",
        "sources": {"predictions": {"path": "p.csv"}, "reference": {"path": "r.csv"}},
        "columns": {"timestamp": "ts", "id": "id", "numerical": ["x"], "prediction": "p"},
        "policy": {"rules": [{"name": "w", "metric": "quality.rmse", "direction": "above",
                              "threshold": 2, "granularity": "week"}]},
    }  # fmt: skip
    with pytest.raises(SpecError, match="judges week roll-ups: list 'week' under rollups"):
        parse_spec(data)
    assert parse_spec({**data, "rollups": ["week"]}).rollups == ["week"]
