"""The standardised CUSUM: its arithmetic, firing and clearing, and run lengths that match
Siegmund's approximation on simulated normal scores."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring_lib.policy.cusum import (
    DEFAULT_H,
    DEFAULT_K,
    CusumSpec,
    CusumState,
    average_run_length,
    cusum_step,
    cusum_update,
    h_for_arl,
    in_control_arl,
    standardise,
)


def test_standardise_makes_worse_positive_in_both_directions() -> None:
    assert standardise(0.90, 0.94, 0.02, "below") == pytest.approx(2.0)
    assert standardise(0.96, 0.94, 0.02, "below") == pytest.approx(-1.0)
    assert standardise(12.0, 10.0, 0.5, "above") == pytest.approx(4.0)
    with pytest.raises(ValueError, match="se"):
        standardise(1.0, 1.0, 0.0, "above")
    with pytest.raises(ValueError, match="direction"):
        standardise(1.0, 1.0, 1.0, "sideways")  # type: ignore[arg-type]


def test_statistic_accumulates_excess_over_k_and_floors_at_zero() -> None:
    spec = CusumSpec(k=0.5, h=100.0)
    state, trace = CusumState(), []
    for z in (1.0, 2.0, -5.0, 0.7, 0.7):
        state = cusum_step(state, z, spec).state
        trace.append((state.statistic, state.rising))
    assert trace == [(0.5, 1), (2.0, 2), (0.0, 0), pytest.approx((0.2, 1)), pytest.approx((0.4, 2))]


def test_fires_above_h_caps_while_firing_and_clears_with_a_fresh_start() -> None:
    spec = CusumSpec(k=0.5, h=4.0)  # clears at h / 2 = 2
    state = CusumState()
    fired_at = None
    for window in range(10):
        step = cusum_step(state, 2.0, spec)  # +1.5 a window
        state = step.state
        if step.fired:
            fired_at = window
            break
    assert fired_at == 2  # 1.5, 3.0, 4.5 > 4
    assert state.firing
    assert state.statistic == spec.h  # capped
    still = cusum_step(state, 10.0, spec)
    assert still.state.statistic == spec.h
    assert still.state.firing
    assert not still.fired
    back = cusum_step(still.state, -0.5, spec)  # 4 - 1 = 3 > 2: still firing
    assert back.state.firing
    assert not back.cleared
    cleared = cusum_step(back.state, -0.5, spec)  # 3 - 1 = 2 <= 2
    assert cleared.cleared
    assert cleared.state == CusumState()


def test_a_window_without_value_or_spread_changes_nothing() -> None:
    state = CusumState(statistic=3.0, rising=4, firing=False)
    for value, se in ((None, 0.01), (0.9, None), (0.9, 0.0), (float("nan"), 0.01)):
        step = cusum_update(state, value, baseline=0.94, se=se, direction="below")
        assert step.state == state
        assert step.z is None


def test_update_standardises_against_the_baseline() -> None:
    step = cusum_update(CusumState(), 0.90, baseline=0.94, se=0.02, direction="below")
    assert step.z == pytest.approx(2.0)
    assert step.state.statistic == pytest.approx(2.0 - DEFAULT_K)


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="h must"):
        CusumSpec(h=0.0)
    with pytest.raises(ValueError, match="k must"):
        CusumSpec(k=-1.0)
    with pytest.raises(ValueError, match="clear"):
        CusumSpec(h=4.0, clear=4.0)
    assert CusumSpec(h=4.0).clear_level == 2.0


def _simulated_run_length(k: float, h: float, shift: float, runs: int, seed: int) -> float:
    """Mean windows to the first signal of plain CUSUMs on N(shift, 1) scores, vectorised."""
    rng = np.random.default_rng(seed)
    statistic, alive = np.zeros(runs), np.ones(runs, dtype=bool)
    lengths, window = np.zeros(runs), 0
    while alive.any():
        window += 1
        statistic = np.maximum(0.0, statistic + rng.normal(shift, 1.0, runs) - k)
        signal = alive & (statistic > h)
        lengths[signal] = window
        alive &= ~signal
    return float(lengths.mean())


@pytest.mark.parametrize(("k", "h", "shift"), [(0.5, 3.0, 0.0), (0.5, 4.0, 0.0), (0.5, 6.5, 1.35)])
def test_siegmund_approximation_matches_simulation(k: float, h: float, shift: float) -> None:
    simulated = _simulated_run_length(k, h, shift, runs=4000, seed=1)
    assert average_run_length(k, h, shift) == pytest.approx(simulated, rel=0.06)


def test_cusum_step_signals_like_the_plain_recursion() -> None:
    """The module's state machine and the textbook recursion agree on the first signal."""
    rng = np.random.default_rng(3)
    spec = CusumSpec(k=0.5, h=3.0)
    for _ in range(200):
        scores = rng.normal(0.8, 1.0, 200)
        state, plain, first, textbook = CusumState(), 0.0, None, None
        for window, z in enumerate(scores):
            state = cusum_step(state, float(z), spec).state
            plain = max(0.0, plain + z - spec.k)
            first = window if first is None and state.firing else first
            textbook = window if textbook is None and plain > spec.h else textbook
        assert first == textbook


def test_default_in_control_run_length_and_its_inverse() -> None:
    arl = in_control_arl()
    assert 4000 < arl < 4500  # the figure the module docstring states
    assert in_control_arl(DEFAULT_K, DEFAULT_H + 0.5) > arl
    assert h_for_arl(arl) == pytest.approx(DEFAULT_H, abs=1e-6)
    assert h_for_arl(3650, k=1.0) == pytest.approx(
        next(h for h in np.arange(0.01, 20, 0.0001) if in_control_arl(1.0, h) >= 3650), abs=1e-3
    )
