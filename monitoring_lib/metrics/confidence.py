"""Prediction confidence: how sure the model is on the window, against how sure it was on the
reference. Labels are not needed, so these move on the day inputs do.

Stored per window: the share of low-confidence predictions (a binary probability inside the
spec's band, or a multiclass top probability below its floor), the predicted class distribution
(a share per class, and its Jensen-Shannon distance from the reference's with a two-sample
chi-square test) and the mean probability (of the positive class, or of each class). Each is
flagged only when a test says the change is real (p below ``alpha``) and it is at least
``min_change``. Counts add across chunks, so a streamed window gives the same records.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from monitoring_lib.metrics.drift.stattests import contingency_p_value, jensenshannon
from monitoring_lib.metrics.exact_sums import from_grid, grid_sum
from monitoring_lib.records import Metric, MetricRecord, MetricStatus
from monitoring_lib.spec.signals import ConfidenceSettings

POSITIVE = "1"
MIN_ROWS = 30
BITS = 40


@dataclass
class ConfidenceCounts:
    """Sums that add across chunks: rows, low-confidence rows, predicted classes, probabilities."""

    rows: int = 0
    scored: int = 0
    low: int = 0
    classes: dict[str, int] = field(default_factory=dict)
    probability_units: dict[str, int] = field(default_factory=dict)
    """Per class, the sum of probabilities in units of 2**-40 (``exact_sums``: chunk-proof)."""
    square_units: dict[str, int] = field(default_factory=dict)

    @property
    def probability_sum(self) -> dict[str, float]:
        return {k: from_grid(v, BITS) for k, v in self.probability_units.items()}

    @property
    def probability_squares(self) -> dict[str, float]:
        return {k: from_grid(v, BITS) for k, v in self.square_units.items()}


def _probabilities(frame: pd.DataFrame, columns: Mapping[str, str]) -> pd.DataFrame:
    values = frame[list(columns.values())].apply(pd.to_numeric, errors="coerce")
    values.columns = list(columns)
    usable = values.notna().all(axis=1) & ((values >= 0) & (values <= 1)).all(axis=1)
    return values.loc[usable]


def count_chunks(
    chunks: Iterable[pd.DataFrame],
    prediction: str | None,
    probabilities: Mapping[str, str],
    settings: ConfidenceSettings,
    *,
    binary: bool,
) -> ConfidenceCounts | str:
    """The counts of every chunk, or which column a chunk lacks."""
    counts = ConfidenceCounts()
    wanted = [*([prediction] if prediction else []), *probabilities.values()]
    for chunk in chunks:
        absent = [c for c in wanted if c not in chunk.columns]
        if absent:
            return f"no column {', '.join(map(repr, absent))}"
        counts.rows += len(chunk)
        if prediction:
            labels = chunk[prediction].dropna().astype("string").value_counts()
            for label, n in labels.items():
                counts.classes[str(label)] = counts.classes.get(str(label), 0) + int(n)
        if not probabilities:
            continue
        values = _probabilities(chunk, probabilities)
        counts.scored += len(values)
        if binary:
            p = values[POSITIVE].to_numpy(np.float64)
            counts.low += int(((p >= settings.low[0]) & (p <= settings.low[1])).sum())
        else:
            counts.low += int((values.to_numpy(np.float64).max(axis=1) < settings.top_below).sum())
        for label in values.columns:
            column = values[label].to_numpy(np.float64)
            units = counts.probability_units.get(label, 0) + grid_sum(column, BITS, 1.0)
            counts.probability_units[label] = units
            squares = counts.square_units.get(label, 0) + grid_sum(column**2, BITS, 1.0)
            counts.square_units[label] = squares
    return counts


def _two_proportions(hits: int, rows: int, ref_hits: int, ref_rows: int) -> float:
    pooled = (hits + ref_hits) / (rows + ref_rows)
    se = math.sqrt(pooled * (1 - pooled) * (1 / rows + 1 / ref_rows))
    if se == 0:
        return 1.0
    return float(2 * stats.norm.sf(abs(hits / rows - ref_hits / ref_rows) / se))


def _two_means(window: ConfidenceCounts, reference: ConfidenceCounts, label: str) -> float:
    parts = []
    for counts in (window, reference):
        mean = counts.probability_sum[label] / counts.scored
        var = max(counts.probability_squares[label] / counts.scored - mean**2, 0.0)
        parts.append((mean, var / counts.scored))
    se = math.sqrt(parts[0][1] + parts[1][1])
    if se == 0:
        return 1.0 if parts[0][0] == parts[1][0] else 0.0
    return float(2 * stats.norm.sf(abs(parts[0][0] - parts[1][0]) / se))


def _status(p_value: float, change: float, settings: ConfidenceSettings) -> MetricStatus:
    flagged = p_value <= settings.alpha and abs(change) >= settings.min_change
    return MetricStatus.DRIFT if flagged else MetricStatus.OK


def confidence_records(
    window: ConfidenceCounts | str,
    reference: ConfidenceCounts | str,
    settings: ConfidenceSettings,
    *,
    binary: bool,
) -> list[MetricRecord]:
    """Low-confidence share, class shares with their shift, and mean probabilities."""
    names = [Metric.LOW_CONFIDENCE_SHARE, Metric.CLASS_SHIFT, Metric.MEAN_PROBABILITY]
    if isinstance(window, str) or isinstance(reference, str):
        side = "current window" if isinstance(window, str) else "reference"
        reason = f"the {side} has {window if isinstance(window, str) else reference}"
        return [
            MetricRecord(m, None, MetricStatus.ERROR, details={"reason": reason}) for m in names
        ]
    records: list[MetricRecord] = []
    if window.scored >= MIN_ROWS and reference.scored >= MIN_ROWS:
        records += _low_confidence(window, reference, settings, binary=binary)
        records += _mean_probabilities(window, reference, settings, binary=binary)
    elif window.probability_sum or reference.probability_sum:
        reason = (
            f"{window.scored} window and {reference.scored} reference rows with probabilities; "
            f"{MIN_ROWS} needed"
        )
        records += [
            MetricRecord(m, None, MetricStatus.INSUFFICIENT_DATA, details={"reason": reason})
            for m in (Metric.LOW_CONFIDENCE_SHARE, Metric.MEAN_PROBABILITY)
        ]
    if window.classes or reference.classes:
        records += _class_shares(window, reference, settings)
    return records


def _low_confidence(
    window: ConfidenceCounts,
    reference: ConfidenceCounts,
    settings: ConfidenceSettings,
    *,
    binary: bool,
) -> list[MetricRecord]:
    share, ref_share = window.low / window.scored, reference.low / reference.scored
    p_value = _two_proportions(window.low, window.scored, reference.low, reference.scored)
    rule = {"band": list(settings.low)} if binary else {"top_below": settings.top_below}
    details = {"reference_share": ref_share, "p_value": p_value, "rows": window.scored, **rule}
    status = _status(p_value, share - ref_share, settings)
    return [MetricRecord(Metric.LOW_CONFIDENCE_SHARE, share, status, details=details)]


def _mean_probabilities(
    window: ConfidenceCounts,
    reference: ConfidenceCounts,
    settings: ConfidenceSettings,
    *,
    binary: bool,
) -> list[MetricRecord]:
    records = []
    for label in sorted(window.probability_sum):
        if label not in reference.probability_sum:
            continue
        mean = float(window.probability_sum[label] / window.scored)
        ref_mean = float(reference.probability_sum[label] / reference.scored)
        p_value = _two_means(window, reference, label)
        details = {"reference_mean": ref_mean, "p_value": p_value, "rows": window.scored}
        column = "" if binary else label
        status = _status(p_value, mean - ref_mean, settings)
        records.append(MetricRecord(Metric.MEAN_PROBABILITY, mean, status, column, details=details))
    return records


def _class_shares(
    window: ConfidenceCounts, reference: ConfidenceCounts, settings: ConfidenceSettings
) -> list[MetricRecord]:
    total, ref_total = sum(window.classes.values()), sum(reference.classes.values())
    if min(total, ref_total) < MIN_ROWS:
        reason = f"{total} window and {ref_total} reference predictions; {MIN_ROWS} needed"
        return [
            MetricRecord(
                Metric.CLASS_SHIFT, None, MetricStatus.INSUFFICIENT_DATA, details={"reason": reason}
            )
        ]
    labels = sorted(set(window.classes) | set(reference.classes))
    cur = np.array([window.classes.get(k, 0) for k in labels], dtype=np.float64)
    ref = np.array([reference.classes.get(k, 0) for k in labels], dtype=np.float64)
    p_value = contingency_p_value(ref, cur)
    p_value = 1.0 if p_value is None or not math.isfinite(p_value) else p_value
    distance = jensenshannon(ref, cur)
    largest = float(np.max(np.abs(cur / total - ref / ref_total)))
    shift_status = _status(p_value, largest, settings)
    records = [
        MetricRecord(
            Metric.CLASS_SHIFT, distance, shift_status,
            details={"p_value": p_value, "largest_share_change": largest, "classes": len(labels),
                     "method": "jensenshannon", "test": "chi-square, two-sample"},
        )
    ]  # fmt: skip
    for label, n, ref_n in zip(labels, cur, ref, strict=True):
        share, ref_share = float(n / total), float(ref_n / ref_total)
        moved = shift_status is MetricStatus.DRIFT and abs(share - ref_share) >= settings.min_change
        status = MetricStatus.DRIFT if moved else MetricStatus.OK
        details = {"reference_share": ref_share, "rows": int(n), "p_value": p_value}
        records.append(MetricRecord(Metric.CLASS_SHARE, share, status, label, details=details))
    return records
