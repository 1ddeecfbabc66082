"""When a monitor runs: a cron that fires once per window, just after the window ends.

Each run computes the last whole window before its scheduled time, so a cron that fires more
often than the windows are long computes overlapping windows (a 7-day window every day), and
one that fires less often leaves windows out (6-hour windows once a day: 3 of 4 never computed).
The default cron follows the window's length, and a spec's own cron is checked against it.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from cronsim import CronSim, CronSimError

from monitoring_lib.durations import format_duration
from monitoring_lib.windows import DAY, window_ending_at

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
WEEK = timedelta(days=7)
_START = datetime(2024, 1, 1)
"""A Monday: fire times are simulated in plain wall-clock time from here (daylight-saving
changes are the scheduler's business, not the spec's)."""
_MOST_RUNS = 5_000


def default_cron(length: timedelta) -> str | None:
    """A cron firing once per window of ``length``, a little after each window ends: daily at
    00:30, weekly on Mondays at 00:30 (the week Monday to Sunday), every N hours at half past,
    every N minutes half a window late; None when no cron can (e.g. 3-day windows)."""
    if length == DAY:
        return "30 0 * * *"
    if length == WEEK:
        return "30 0 * * 1"
    if length >= DAY or length % MINUTE:
        return None
    if length % HOUR == timedelta(0):
        hours = length // HOUR
        return "30 * * * *" if hours == 1 else f"30 */{hours} * * *"
    minutes = length // MINUTE
    if 60 % minutes:
        return None  # e.g. 90-minute windows: no single cron fires at 0:00, 1:30, 3:00, ...
    return "* * * * *" if minutes == 1 else f"{minutes // 2}-59/{minutes} * * * *"


def cron_problem(cron: str, length: timedelta) -> str | None:
    """Why ``cron`` does not fire exactly once per window of ``length``, with the fix; None
    when every window is computed once."""
    try:
        runs = CronSim(cron, _START)
    except CronSimError as error:
        return f"'{cron}' is not a cron expression ({error}), e.g. '30 0 * * *'"
    # Two months for hourly and longer windows, so day-of-month steps meet a month's end.
    span = max(62 * DAY, 8 * length) if length >= HOUR else 2 * DAY
    times: list[datetime] = []
    for moment in runs:
        if moment > _START + span or len(times) >= _MOST_RUNS:
            break
        times.append(moment)
    return _schedule_problem(cron, length, times)


def _schedule_problem(cron: str, length: timedelta, times: list[datetime]) -> str | None:
    """Whether the windows ending before consecutive runs follow each other exactly."""
    fix = _fix(length)
    if len(times) < 2:
        return f"'{cron}' fires too seldom to run once per {format_duration(length)} window; {fix}"
    windows = [window_ending_at(moment.replace(tzinfo=UTC), length, "UTC") for moment in times]
    if all(later.start == earlier.end for earlier, later in pairwise(windows)):
        return None
    gap = Counter(b - a for a, b in pairwise(times)).most_common(1)[0][0]
    every = f"'{cron}' runs every {format_duration(gap)}"
    window = f"window.length is {format_duration(length)}"
    if gap < length:
        effect = "each run would compute a window overlapping the previous run's"
    elif gap > length:
        share = (
            f"{gap // length - 1} of every {gap // length}"
            if gap % length == timedelta(0)
            else "some"
        )
        effect = f"{share} windows would never be computed"
    else:
        effect = "some windows would be skipped or computed twice"
    return f"{every}, but {window}: {effect}; {fix}"


def _fix(length: timedelta) -> str:
    cron = default_cron(length)
    if cron is None:
        return "no cron runs once per such window: use a length of 1d, 7d or a divisor of 1d"
    return f"use '{cron}' or another cron that fires once per window (or leave window.cron out)"
