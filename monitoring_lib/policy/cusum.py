"""One-sided CUSUM on a quality metric standardised against its baseline: small persistent drops.

A drop of 1.4 standard errors per window is lost in one window's noise, but it adds up: the
CUSUM ``S = max(0, S + z - k)``, with ``z = (value - baseline) / se`` signed so that positive is
worse, climbs by about ``shift - k`` per window once the drop starts and drifts down by ``k``
before it. It fires when ``S > h``.

Defaults, chosen on ``benchmarks/bench_quality_detection.py`` (daily accuracy on 165 rows,
0.94 dropping to 0.915, i.e. 1.35 standard errors): ``k = 0.5`` (tuned to a drop of one
standard error per window) and ``h = 6.5``. For normal z their in-control average run length is
about 4,250 windows (Siegmund's approximation, ``in_control_arl``). Accuracy's z is a binomial
count, skewed towards errors, so on 165 rows it is shorter: 2,550 days (7 years), a 5.4% chance
of a false alarm in 150 days (Markov chain on the statistic); larger windows come closer to the
normal figure. On that benchmark the defaults catch the drop within 10 days 80% of the time
(median 7 days), as the likelihood-ratio CUSUM that knows both accuracies does at the same
false-alarm rate. The baseline's own error is a bias every window shares: a baseline measured
on 5,000 rows triples the false alarms (15% in 150 days), so take it from a large labelled set.

Firing and clearing, with the state persisted per window (``CusumState``):

* no usable value (or no standard error): the state carries over unchanged;
* fires when the statistic exceeds ``h``; while firing it is capped at ``h``, so that once the
  metric is back at baseline the rule clears in about ``(h - clear) / k`` windows, however long
  the problem lasted;
* clears when the statistic falls to ``clear`` (default ``h / 2``), and then starts afresh at 0;
* a new champion (a new baseline) starts afresh too: the caller passes ``CusumState()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from scipy.optimize import brentq

DEFAULT_K = 0.5
DEFAULT_H = 6.5
_SIEGMUND_OFFSET = 1.166
"""Siegmund's correction for the overshoot of a normal random walk over the boundary."""

Direction = Literal["above", "below"]
"""'above' when high values are bad (RMSE), 'below' when low values are (accuracy)."""


@dataclass(frozen=True, slots=True)
class CusumSpec:
    """The reference value ``k`` and decision interval ``h``, both in standard errors."""

    k: float = DEFAULT_K
    h: float = DEFAULT_H
    clear: float | None = field(default=None)
    """The statistic at or below which a firing rule clears; default ``h / 2``."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k) and self.k >= 0):
            raise ValueError(f"k must be a finite number >= 0, got {self.k}")
        if not (math.isfinite(self.h) and self.h > 0):
            raise ValueError(f"h must be a finite number > 0, got {self.h}")
        if self.clear is not None and not 0 <= self.clear < self.h:
            raise ValueError(f"clear must lie in [0, h), got {self.clear} with h = {self.h}")

    @property
    def clear_level(self) -> float:
        return self.h / 2 if self.clear is None else self.clear


@dataclass(frozen=True, slots=True)
class CusumState:
    """What one window leaves for the next; ``CusumState()`` is a fresh start."""

    statistic: float = 0.0
    rising: int = 0
    """Consecutive windows with a positive statistic: the drop began about this many ago."""
    firing: bool = False


@dataclass(frozen=True, slots=True)
class CusumStep:
    """One window's update: the state after it, and what changed."""

    state: CusumState
    z: float | None
    """The standardised value (positive = worse); None when the window had no usable value."""
    fired: bool
    """The rule started firing in this window."""
    cleared: bool
    """The rule cleared in this window (and its statistic restarted from 0)."""


def standardise(value: float, baseline: float, se: float, direction: Direction) -> float:
    """How many standard errors ``value`` is worse than ``baseline`` (negative when better)."""
    if not (math.isfinite(se) and se > 0):
        raise ValueError(f"se must be a finite number > 0, got {se}")
    if direction not in ("above", "below"):
        raise ValueError(f"direction must be 'above' or 'below', got {direction!r}")
    gap = (value - baseline) / se
    return gap if direction == "above" else -gap


def cusum_step(state: CusumState, z: float, spec: CusumSpec = CusumSpec()) -> CusumStep:
    """The CUSUM after one more standardised value."""
    statistic = max(0.0, state.statistic + z - spec.k)
    rising = state.rising + 1 if statistic > 0 else 0
    if not state.firing:
        fired = statistic > spec.h
        statistic = min(statistic, spec.h) if fired else statistic
        return CusumStep(CusumState(statistic, rising, fired), z, fired=fired, cleared=False)
    statistic = min(statistic, spec.h)
    if statistic <= spec.clear_level:
        return CusumStep(CusumState(), z, fired=False, cleared=True)
    return CusumStep(CusumState(statistic, rising, True), z, fired=False, cleared=False)


def cusum_update(
    state: CusumState,
    value: float | None,
    *,
    baseline: float,
    se: float | None,
    direction: Direction,
    spec: CusumSpec = CusumSpec(),
) -> CusumStep:
    """``cusum_step`` on one window's value; a window without a value or spread changes nothing.

    For a proportion pass the standard error under the baseline (``QualityValue.se_at``): the
    window's own grows as accuracy falls and would blunt the signal it should carry.
    """
    if value is None or se is None or not math.isfinite(value) or not se > 0:
        return CusumStep(state, None, fired=False, cleared=False)
    return cusum_step(state, standardise(value, baseline, se, direction), spec)


def average_run_length(k: float, h: float, shift: float = 0.0) -> float:
    """Siegmund's approximation of the mean windows to a signal when z has mean ``shift``
    (0: the in-control run length, between false alarms) and standard deviation 1."""
    drift, boundary = shift - k, h + _SIEGMUND_OFFSET
    if abs(drift) < 1e-9:
        return boundary**2
    return (math.exp(-2 * drift * boundary) + 2 * drift * boundary - 1) / (2 * drift**2)


def in_control_arl(k: float = DEFAULT_K, h: float = DEFAULT_H) -> float:
    """Mean windows between false alarms on an unchanged model, for normal z."""
    return average_run_length(k, h, 0.0)


def h_for_arl(arl: float, k: float = DEFAULT_K) -> float:
    """The ``h`` whose in-control run length is ``arl`` windows (e.g. 3650 for ten daily years)."""
    if arl <= in_control_arl(k, 0.0):
        raise ValueError(f"an in-control run length of {arl} windows is below any h's")
    high = 1.0
    while in_control_arl(k, high) < arl:
        high *= 2
    return float(brentq(lambda h: in_control_arl(k, h) - arl, 0.0, high))
