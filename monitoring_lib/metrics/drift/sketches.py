"""A numerical column's window statistics, exact in memory or merged from chunk sketches.

``NumericReference`` prepares a reference column once; ``window_from_values`` gathers the exact
statistics of an in-memory window, and ``NumericSketch`` the mergeable counts of a window read
in chunks (KS, PSI and Jensen-Shannon exact, Wasserstein within a stated bound)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring_lib.metrics.drift.stattests import (
    BINNED_MIN_UNIQUE,
    FloatArray,
    IntArray,
    auto_method,
    ks_p_value,
    ks_sorted,
    ks_statistic,
    sturges_edges,
    wasserstein_norm,
    wasserstein_sorted,
)


def sketch_counts(
    ref_unique: FloatArray, values: FloatArray
) -> tuple[IntArray, IntArray, FloatArray]:
    """Counts of ``values`` at each reference unique value, and count and sum in each gap.

    Gap ``j`` is the open interval below ``ref_unique[j]`` and above ``ref_unique[j-1]``
    (gap 0 below the minimum, gap ``u`` above the maximum). All three arrays add across chunks.
    """
    u = ref_unique.size
    idx = np.searchsorted(ref_unique, values, side="left")
    hit = idx < u
    hit[hit] = ref_unique[idx[hit]] == values[hit]
    at = np.bincount(idx[hit], minlength=u).astype(np.int64)
    gap_idx = idx[~hit]
    gap_count = np.bincount(gap_idx, minlength=u + 1).astype(np.int64)
    gap_sum = np.bincount(gap_idx, weights=values[~hit], minlength=u + 1).astype(np.float64)
    return at, gap_count, gap_sum


def ks_from_sketch(ref_counts: IntArray, at: IntArray, gap_count: IntArray) -> tuple[float, float]:
    """Exact two-sample KS from the mergeable counts of :func:`sketch_counts`.

    Between two reference values the reference CDF is flat and the current CDF only rises, so
    the extreme differences sit at the reference values and at the first and last current value
    inside each gap, all of which the counts determine.
    """
    n1, n2 = int(ref_counts.sum()), int(at.sum() + gap_count.sum())
    ref_le = np.cumsum(ref_counts)
    cur_le = np.cumsum(at) + np.cumsum(gap_count[:-1])
    ref_before = np.concatenate([[0], ref_le])  # reference CDF inside gap j
    cur_before = np.concatenate([[0], cur_le])  # current count up to the gap's lower end
    occupied = gap_count > 0
    first_in_gap = (cur_before + 1)[occupied] / n2
    last_in_gap = (cur_before + gap_count)[occupied] / n2
    ref_gap = ref_before[occupied] / n1
    diffs = np.concatenate(
        [ref_le / n1 - cur_le / n2, ref_gap - first_in_gap, ref_gap - last_in_gap]
    )
    return ks_p_value(ks_statistic(diffs), n1, n2)


def wasserstein_from_sketch(
    ref_unique: FloatArray,
    ref_counts: IntArray,
    at: IntArray,
    gap_count: IntArray,
    gap_sum: FloatArray,
) -> float:
    """Wasserstein-1 distance from mergeable counts: exact unless the CDFs cross inside a gap.

    Not exact in general: inside a gap only the count and sum of current values are kept, so
    the current values there are modelled as sitting at their mean. That is exact when the gap
    holds at most one current value or when the two CDFs do not cross inside it; otherwise the
    error is below (gap width) x (gap count) / n_current, small for any sizeable reference:
    measured within 1e-4 of a reference std on 5k-row references (tests allow 1e-3).
    """
    n1, n2 = float(ref_counts.sum()), float(at.sum() + gap_count.sum())
    below = (gap_count[0] * ref_unique[0] - gap_sum[0]) / n2
    above = (gap_sum[-1] - gap_count[-1] * ref_unique[-1]) / n2
    inner_count, inner_sum = gap_count[1:-1], gap_sum[1:-1]
    a = np.cumsum(ref_counts)[:-1] / n1
    b0 = (np.cumsum(at)[:-1] + np.cumsum(gap_count)[:-2]) / n2
    left, right = ref_unique[:-1], ref_unique[1:]
    mean = np.where(inner_count > 0, inner_sum / np.maximum(inner_count, 1), right)
    inner = np.abs(a - b0) * (mean - left) + np.abs(a - b0 - inner_count / n2) * (right - mean)
    return float(below + above + np.sum(inner))


def unique_sorted(sorted_values: FloatArray) -> tuple[FloatArray, IntArray]:
    """np.unique(..., return_counts=True) for already-sorted data, without sorting again."""
    if sorted_values.size == 0:
        return sorted_values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]]))
    counts = np.diff(np.append(starts, sorted_values.size)).astype(np.int64)
    return sorted_values[starts], counts


def _counts_at(keys: FloatArray, unique: FloatArray, counts: IntArray) -> FloatArray:
    out = np.zeros(keys.size, dtype=np.float64)
    out[np.searchsorted(keys, unique)] = counts
    return out


@dataclass(frozen=True)
class NumericReference:
    """A numerical reference column prepared once: sorted values, uniques and their counts."""

    sorted_values: FloatArray
    unique: FloatArray
    counts: IntArray
    integer: bool

    @classmethod
    def build(cls, values: FloatArray, integer: bool) -> NumericReference:
        sorted_values = np.sort(values)
        unique, counts = unique_sorted(sorted_values)
        return cls(sorted_values, unique, counts, integer)

    @property
    def norm(self) -> float:
        return wasserstein_norm(float(np.std(self.sorted_values)))

    @property
    def binned(self) -> bool:
        """Whether Evidently bins this column by Sturges edges rather than by value."""
        return bool(self.unique.size > BINNED_MIN_UNIQUE)


@dataclass(frozen=True)
class NumericWindow:
    """What numerical scoring needs from the current window, however it was gathered."""

    rows: int
    wasserstein: float
    unique_values: int
    ks: tuple[float, float] | None
    bins: tuple[FloatArray, FloatArray] | None
    notes: tuple[str, ...] = ()


def window_from_values(
    reference: NumericReference, cur_values: FloatArray, cur_integer: bool, method: str
) -> NumericWindow:
    """The exact window statistics of an in-memory current sample."""
    cur_sorted = np.sort(cur_values)
    cur_unique, cur_counts = unique_sorted(cur_sorted)
    keys = np.union1d(reference.unique, cur_unique)
    resolved = (
        method
        if method != "auto"
        else auto_method("numerical", reference.sorted_values.size, keys.size)
    )
    ks = ks_sorted(reference.sorted_values, cur_sorted) if resolved == "ks" else None
    bins = None
    if resolved in ("psi", "jensenshannon") and reference.binned:
        lo = min(reference.sorted_values[0], cur_sorted[0])
        hi = max(reference.sorted_values[-1], cur_sorted[-1])
        edges = sturges_edges(
            lo,
            hi,
            reference.sorted_values.size + cur_sorted.size,
            reference.integer and cur_integer,
        )
        bins = (
            np.histogram(reference.sorted_values, edges)[0].astype(np.float64),
            np.histogram(cur_sorted, edges)[0].astype(np.float64),
        )
    elif resolved in ("psi", "jensenshannon", "chisquare", "z"):
        bins = (
            _counts_at(keys, reference.unique, reference.counts),
            _counts_at(keys, cur_unique, cur_counts),
        )
    w = wasserstein_sorted(reference.sorted_values, cur_sorted)
    return NumericWindow(cur_sorted.size, w, keys.size, ks, bins)


@dataclass(frozen=True)
class NumericSketch:
    """Mergeable summary of one numerical column of a window against a fixed reference.

    KS, PSI and Jensen-Shannon come out exact (PSI/JS need a second pass for ``bins``, since
    Evidently's Sturges edges depend on the whole window's min, max and size); Wasserstein is
    the documented approximation of :func:`wasserstein_from_sketch`.
    """

    at: IntArray
    gap_count: IntArray
    gap_sum: FloatArray
    lowest: float
    highest: float
    integer: bool
    small_counts: pd.Series | None
    bins: FloatArray | None = None

    @classmethod
    def of(cls, reference: NumericReference, values: FloatArray, integer: bool) -> NumericSketch:
        at, gap_count, gap_sum = sketch_counts(reference.unique, values)
        small = pd.Series(values).value_counts(sort=False) if not reference.binned else None
        lo, hi = (float(values.min()), float(values.max())) if values.size else (np.inf, -np.inf)
        return cls(at, gap_count, gap_sum, lo, hi, integer, small)

    def merge(self, other: NumericSketch) -> NumericSketch:
        small = None
        if self.small_counts is not None and other.small_counts is not None:
            small = self.small_counts.add(other.small_counts, fill_value=0)
        bins = None if self.bins is None or other.bins is None else self.bins + other.bins
        return NumericSketch(
            self.at + other.at, self.gap_count + other.gap_count, self.gap_sum + other.gap_sum,
            min(self.lowest, other.lowest), max(self.highest, other.highest),
            self.integer and other.integer, small, bins,
        )  # fmt: skip

    @property
    def rows(self) -> int:
        return int(self.at.sum() + self.gap_count.sum())

    def edges(self, reference: NumericReference) -> FloatArray:
        """Evidently's Sturges edges over reference and the whole window (known after pass 1)."""
        lo = min(float(reference.unique[0]), self.lowest)
        hi = max(float(reference.unique[-1]), self.highest)
        rows = reference.sorted_values.size + self.rows
        return sturges_edges(lo, hi, rows, reference.integer and self.integer)

    def to_window(self, reference: NumericReference, method: str) -> NumericWindow:
        """The window statistics scoring needs; ``bins`` must be filled for binned PSI/JS."""
        if self.rows == 0:
            return NumericWindow(0, float("nan"), reference.unique.size, None, None)
        w = wasserstein_from_sketch(
            reference.unique, reference.counts, self.at, self.gap_count, self.gap_sum
        )
        keys = (
            np.union1d(reference.unique, self.small_counts.index.to_numpy(np.float64))
            if self.small_counts is not None
            else None
        )
        unique_values = keys.size if keys is not None else reference.unique.size + 1
        resolved = (
            method
            if method != "auto"
            else auto_method("numerical", reference.sorted_values.size, unique_values)
        )
        ks = ks_from_sketch(reference.counts, self.at, self.gap_count) if resolved == "ks" else None
        bins = None
        if resolved in ("psi", "jensenshannon") and reference.binned and self.bins is not None:
            bins = (
                np.histogram(reference.sorted_values, self.edges(reference))[0].astype(np.float64),
                self.bins,
            )
        elif keys is not None and self.small_counts is not None:
            cur = _counts_at(
                keys,
                self.small_counts.index.to_numpy(np.float64),
                self.small_counts.to_numpy(np.int64),
            )
            bins = (_counts_at(keys, reference.unique, reference.counts), cur)
        note = "wasserstein from chunk sketches: exact unless the CDFs cross inside a reference gap"
        return NumericWindow(self.rows, w, unique_values, ks, bins, (note,))
