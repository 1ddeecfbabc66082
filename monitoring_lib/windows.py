"""Window arithmetic: which [start, end) a run covers, in the monitor's time zone.

Windows are aligned to the local calendar: a daily window runs from local midnight to the next
local midnight, so it is 23 or 25 hours long across a daylight-saving change. A run's window is the
last whole window ending at or before its reference time (the flow run's scheduled start), never
the wall clock, so a late run or a retry computes the window it was scheduled for.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY = timedelta(days=1)


@dataclass(frozen=True, order=True, slots=True)
class Window:
    """A half-open interval [start, end) of UTC-aware datetimes, with the zone it was cut in."""

    start: datetime
    end: datetime
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(ZoneInfo(self.timezone))

    @property
    def local_end(self) -> datetime:
        return self.end.astimezone(ZoneInfo(self.timezone))

    @property
    def label(self) -> str:
        """A human label: the local start date for whole-day windows, else the local start time."""
        start = self.local_start
        if start.time() == time(0) and self.local_end.time() == time(0):
            return start.date().isoformat()
        return start.strftime("%Y-%m-%d %H:%M")

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def _is_whole_days(length: timedelta) -> bool:
    return length >= DAY and length % DAY == timedelta(0)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def window_ending_at(reference: datetime, length: timedelta, timezone: str) -> Window:
    """The last whole window that ends at or before ``reference``."""
    if reference.tzinfo is None:
        raise ValueError("the reference time must be timezone-aware")
    zone = ZoneInfo(timezone)
    local = reference.astimezone(zone)
    if _is_whole_days(length):
        end = _local_midnight(local.date(), zone)
        start = _local_midnight(local.date() - timedelta(days=length // DAY), zone)
        return Window(start, end, timezone)
    midnight = _local_midnight(local.date(), zone)
    elapsed = local.replace(tzinfo=None) - midnight.replace(tzinfo=None)
    end_wall = midnight.replace(tzinfo=None) + (elapsed // length) * length
    end = end_wall.replace(tzinfo=zone)
    return Window(end - length, end, timezone)


def window_starting_on(day: date, length: timedelta, timezone: str) -> Window:
    """The window that starts at local midnight of ``day`` (the one a ``--date`` names)."""
    zone = ZoneInfo(timezone)
    start = _local_midnight(day, zone)
    if _is_whole_days(length):
        end = _local_midnight(day + timedelta(days=length // DAY), zone)
        return Window(start, end, timezone)
    return Window(start, start + length, timezone)


def windows_between(first: date, last: date, length: timedelta, timezone: str) -> Iterator[Window]:
    """Consecutive windows starting on ``first`` whose start falls on or before ``last``."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    window = window_starting_on(first, length, timezone)
    stop = _local_midnight(last + DAY, ZoneInfo(timezone))
    while window.start < stop:
        yield window
        window = _next(window, length)


def _next(window: Window, length: timedelta) -> Window:
    if _is_whole_days(length):
        day = window.local_end.date()
        return window_starting_on(day, length, window.timezone)
    return Window(window.end, window.end + length, window.timezone)


def resolve_window(
    length: timedelta,
    timezone: str,
    *,
    day: date | None,
    scheduled: datetime,
    end: datetime | None = None,
) -> Window:
    """The window a run computes: the one ending at ``end`` or starting on ``day`` when given,
    else the last whole window before the run's scheduled time (never the wall clock, so late
    runs and retries agree)."""
    if end is not None:
        return window_ending_at(end, length, timezone)
    if day is not None:
        return window_starting_on(day, length, timezone)
    return window_ending_at(scheduled, length, timezone)
