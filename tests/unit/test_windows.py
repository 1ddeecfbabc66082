from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitoring_lib.windows import Window, window_ending_at, window_starting_on, windows_between

BERLIN = "Europe/Berlin"
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (date(2024, 3, 30), 24),
        (date(2024, 3, 31), 23),  # clocks go forward
        (date(2024, 10, 27), 25),  # clocks go back
        (date(2024, 10, 28), 24),
    ],
)
def test_daily_windows_follow_local_midnight_across_dst(day: date, hours: int) -> None:
    window = window_starting_on(day, DAY, BERLIN)
    assert window.hours == hours
    assert window.local_start == datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(BERLIN))
    assert window.local_end.date() == day + DAY
    assert window.local_end.hour == 0
    assert window.label == day.isoformat()


def test_scheduled_time_picks_the_last_whole_window() -> None:
    scheduled = datetime(2024, 3, 31, 1, 30, tzinfo=ZoneInfo(BERLIN))
    assert window_ending_at(scheduled, DAY, BERLIN) == window_starting_on(
        date(2024, 3, 30), DAY, BERLIN
    )
    # A run late by 20 hours still computes the window it was scheduled for.
    late = scheduled + timedelta(hours=20)
    assert window_ending_at(late, DAY, BERLIN) == window_ending_at(scheduled, DAY, BERLIN)


def test_reference_exactly_on_a_boundary_ends_there() -> None:
    midnight = datetime(2024, 10, 28, 0, 0, tzinfo=ZoneInfo(BERLIN))
    window = window_ending_at(midnight, DAY, BERLIN)
    assert window.end == midnight.astimezone(UTC)
    assert window.hours == 25


def test_sub_day_windows_align_to_local_wall_clock() -> None:
    reference = datetime(2024, 6, 1, 14, 5, tzinfo=ZoneInfo(BERLIN))
    window = window_ending_at(reference, timedelta(hours=6), BERLIN)
    assert window.local_start.hour == 6
    assert window.local_end.hour == 12


def test_multi_day_windows() -> None:
    reference = datetime(2024, 4, 8, 2, 0, tzinfo=UTC)
    window = window_ending_at(reference, timedelta(days=7), "UTC")
    assert window.start == datetime(2024, 4, 1, tzinfo=UTC)
    assert window.end == datetime(2024, 4, 8, tzinfo=UTC)


def test_windows_between_are_contiguous_and_cover_the_range() -> None:
    windows = list(windows_between(date(2024, 3, 29), date(2024, 4, 2), DAY, BERLIN))
    assert [w.label for w in windows] == [
        "2024-03-29",
        "2024-03-30",
        "2024-03-31",
        "2024-04-01",
        "2024-04-02",
    ]
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert sum(w.hours for w in windows) == 5 * 24 - 1


def test_windows_between_rejects_a_reversed_range() -> None:
    with pytest.raises(ValueError, match="ends"):
        list(windows_between(date(2024, 4, 2), date(2024, 4, 1), DAY, "UTC"))


def test_window_requires_aware_and_ordered_bounds() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2024, 1, 1), datetime(2024, 1, 2))
    with pytest.raises(ValueError, match="not after"):
        Window(datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
