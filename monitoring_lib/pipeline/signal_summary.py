"""The run summary's lines for multivariate drift, prediction confidence and which drift matters
(plain JSON for the flow's result, markdown for the Prefect artifact)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus


def _shown(value: object, digits: int = 3) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def signal_rows(records: Sequence[MetricRecord]) -> dict[str, Any]:
    """The window's signals as plain values: multivariate, confidence, and impact ranked."""
    found = {r.key: r for r in records if r.segment == DATASET}

    def plain(metric: str, column: str = DATASET) -> dict[str, Any] | None:
        record = found.get((metric, column, DATASET))
        if record is None:
            return None
        return {"value": record.value, "status": str(record.status), **record.details}

    impact = sorted(
        (r for r in found.values() if r.metric == Metric.DRIFT_IMPACT),
        key=lambda r: (r.value is None, -(r.value or 0.0), r.column),
    )
    classes = sorted(r.column for r in found.values() if r.metric == Metric.CLASS_SHARE)
    return {
        "multivariate": plain(Metric.MULTIVARIATE_ERROR),
        "low_confidence": plain(Metric.LOW_CONFIDENCE_SHARE),
        "class_shift": plain(Metric.CLASS_SHIFT),
        "class_shares": {c: plain(Metric.CLASS_SHARE, c) for c in classes},
        "mean_probability": plain(Metric.MEAN_PROBABILITY),
        "impact": [
            {"column": r.column, "value": r.value, "status": str(r.status), **r.details}
            for r in impact
        ],
    }


def _flag(row: dict[str, Any]) -> str:
    return " **(drift)**" if row.get("status") == MetricStatus.DRIFT else ""


def signal_markdown(signals: dict[str, Any]) -> list[str]:
    """Markdown lines: one per signal present, then drifted columns ranked by likely impact."""
    lines: list[str] = []
    multivariate = signals.get("multivariate")
    if multivariate:
        lines.append(
            f"- multivariate drift: reconstruction error {_shown(multivariate['value'])} against "
            f"{_shown(multivariate.get('reference_error'))} on the reference, threshold "
            f"{_shown(multivariate.get('threshold'))}{_flag(multivariate)}"
            if multivariate["value"] is not None
            else f"- multivariate drift: — ({multivariate.get('reason', multivariate['status'])})"
        )
    low = signals.get("low_confidence")
    if low and low["value"] is not None:
        lines.append(
            f"- low-confidence predictions: {_shown(low['value'])} of rows (reference "
            f"{_shown(low.get('reference_share'))}){_flag(low)}"
        )
    mean = signals.get("mean_probability")
    if mean and mean["value"] is not None:
        lines.append(
            f"- mean probability: {_shown(mean['value'])} (reference "
            f"{_shown(mean.get('reference_mean'))}){_flag(mean)}"
        )
    shift = signals.get("class_shift")
    if shift and shift["value"] is not None:
        shares = ", ".join(
            f"`{label}` {_shown(row['value'], 2)} ({_shown(row.get('reference_share'), 2)})"
            for label, row in signals.get("class_shares", {}).items()
            if row
        )
        lines.append(f"- predicted classes (reference): {shares}{_flag(shift)}")
    impact = signals.get("impact") or []
    if impact:
        metric = impact[0].get("quality_metric", "quality")
        lines += [
            "",
            f"| drifted column, by likely impact | Spearman with {metric} loss | windows |",
            "| --- | --- | --- |",
            *(
                f"| `{row['column']}` | "
                + (_shown(row["value"], 2) if row["value"] is not None else "not enough history")
                + f" | {row.get('windows', 0)} |"
                for row in impact
            ),
        ]
    return lines
