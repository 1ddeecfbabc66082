"""What a person reads about one window: a summary, a per-column drift table, plain values.

Used for Prefect artifacts, the CLI and the demo's table; every number is finite or shown as '—'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitoring_lib.pipeline.service_summary import service_figures, service_lines
from monitoring_lib.pipeline.signal_summary import signal_markdown, signal_rows
from monitoring_lib.records import Metric, MetricRecord, MetricStatus

QUALITY_SHOWN = (Metric.ACCURACY, Metric.F1, Metric.ROC_AUC, Metric.RMSE, Metric.MAE, Metric.R2)


@dataclass(frozen=True)
class WindowSummary:
    model: str
    window: str
    rows: int
    label_coverage: float | None
    drift_share: float | None
    drifted_columns: list[str]
    quality: dict[str, float | None]
    failed_checks: list[str]
    decision: str = "none"
    reasons: list[str] = field(default_factory=list)
    report_path: str | None = None
    quality_detail: list[dict[str, Any]] = field(default_factory=list)
    """Per quality metric: value and interval, and the estimate before labels (``quality_rows``)."""
    service: list[str] = field(default_factory=list)
    """Service health and SLO lines (``service_summary``); empty without service columns."""
    service_figures: dict[str, Any] = field(default_factory=dict)
    """The same figures as plain values (``service_summary.service_figures``)."""
    empty: bool = False
    """The window was run and had no predictions (a stored row count of 0)."""
    rule_fired: bool = False
    """A policy rule fires in this window (whatever its action)."""
    links: list[tuple[str, str]] = field(default_factory=list)
    """(text, URL) of the pages a person opens next: the HTML report, the model's history."""
    signals: dict[str, Any] = field(default_factory=dict)
    """Multivariate drift, prediction confidence, drifted columns by impact (``signal_rows``)."""

    @property
    def status(self) -> str:
        """red, amber or green; an empty window is never green (as in ``v_model_status``)."""
        if self.empty:
            return "red" if self.rule_fired else "amber"
        if self.decision in ("retrain", "rollback") or self.failed_checks:
            return "red"
        if self.drifted_columns or self.decision == "alert":
            return "amber"
        return "green"


def _value(records: Mapping[tuple[str, str, str], MetricRecord], metric: str) -> float | None:
    record = records.get((metric, "", ""))
    return record.value if record is not None else None


def summarize(
    model: str,
    window: str,
    records: Sequence[MetricRecord],
    *,
    decision: str = "none",
    reasons: Sequence[str] = (),
    report_path: str | None = None,
    rule_fired: bool = False,
    links: Sequence[tuple[str, str]] = (),
) -> WindowSummary:
    by_key = {r.key: r for r in records}
    drifted = sorted(
        r.column
        for r in records
        if r.metric == Metric.DRIFT_SCORE and r.segment == "" and r.status is MetricStatus.DRIFT
    )
    failed = sorted(
        f"{r.metric} {r.column}".strip()
        for r in records
        if r.segment == "" and r.status is MetricStatus.FAILED
    )
    rows = _value(by_key, Metric.ROW_COUNT)
    return WindowSummary(
        model=model,
        window=window,
        rows=int(rows or 0),
        label_coverage=_value(by_key, Metric.LABEL_COVERAGE),
        drift_share=_value(by_key, Metric.DRIFT_SHARE),
        drifted_columns=drifted,
        quality={
            m.removeprefix("quality."): _value(by_key, m)
            for m in QUALITY_SHOWN
            if (m, "", "") in by_key
        },
        failed_checks=failed,
        decision=decision,
        reasons=list(reasons),
        report_path=report_path,
        quality_detail=quality_rows(records),
        service=service_lines(records),
        service_figures=service_figures(records),
        empty=rows == 0,
        rule_fired=rule_fired,
        links=list(links),
        signals=signal_rows(records),
    )


def shown(value: float | None, digits: int = 3) -> str:
    """A number for people: '—' for missing or non-finite values."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}"


def summary_markdown(summary: WindowSummary, baseline: Mapping[str, float] | None = None) -> str:
    baseline = baseline or {}
    lines = [
        f"# {summary.model} — {summary.window}",
        "",
        f"**Status:** {summary.status} · **decision:** {summary.decision}",
        "",
        f"- rows: {summary.rows}; label coverage: {shown(summary.label_coverage, 2)}"
        + ("; **no predictions: insufficient data, no drift judged**" if summary.empty else ""),
        f"- drifted share: {shown(summary.drift_share, 2)}; drifted columns: "
        + (", ".join(f"`{c}`" for c in summary.drifted_columns) or "none"),
        f"- failed checks: {', '.join(summary.failed_checks) or 'none'}",
        *summary.service,
        *signal_markdown(summary.signals),
        "",
        *quality_table(summary, baseline),
    ]
    if summary.reasons:
        lines += ["", "**Why:**", *[f"- {reason}" for reason in summary.reasons]]
    if summary.links:
        lines += ["", " · ".join(f"[{name}]({url})" for name, url in summary.links)]
    elif summary.report_path:
        lines += ["", f"HTML report: `{summary.report_path}`"]
    return "\n".join(lines)


def drift_table(records: Sequence[MetricRecord]) -> list[dict[str, str]]:
    """One row per column's dataset-level drift test, safe to render (no NaN)."""
    rows = []
    for record in records:
        if record.metric != Metric.DRIFT_SCORE or record.segment != "":
            continue
        details = record.details
        rows.append(
            {
                "column": record.column,
                "method": str(details.get("method", "")),
                "score": shown(record.value, 4),
                "threshold": shown(_finite(details.get("threshold")), 4),
                "adjusted p": shown(_finite(details.get("adjusted_p_value")), 4),
                "status": str(record.status),
            }
        )
    return sorted(rows, key=lambda row: (row["status"] != "drift", row["column"]))


def _finite(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# --- quality with intervals, and estimates before labels --------------------------------------

_ESTIMATED = "estimated."


def _interval(record: MetricRecord | None) -> dict[str, Any]:
    if record is None:
        return {"value": None, "ci_lower": None, "ci_upper": None}
    details = record.details
    return {
        "value": record.value,
        "ci_lower": _finite(details.get("ci_lower")),
        "ci_upper": _finite(details.get("ci_upper")),
        "reason": str(details.get("reason", "")),
    }


def quality_rows(records: Sequence[MetricRecord]) -> list[dict[str, Any]]:
    """Every dataset-level quality metric of the window with its interval, beside the estimate
    of the same metric from calibrated probabilities (plain JSON, for the flow's result)."""
    kept = {
        r.metric: r
        for r in records
        if r.column == "" and r.segment == "" and r.metric.startswith(("quality.", _ESTIMATED))
    }
    names = dict.fromkeys(
        m.removeprefix("quality.").removeprefix(_ESTIMATED) for m in kept
    )  # realised first, in the stored order
    return [
        {
            "metric": name,
            **_interval(kept.get(f"quality.{name}")),
            "estimated": _interval(kept.get(f"{_ESTIMATED}{name}")),
        }
        for name in names
    ]


def _with_interval(part: Mapping[str, Any]) -> str:
    value, low, high = part.get("value"), part.get("ci_lower"), part.get("ci_upper")
    if value is None:
        return "—"
    if low is None or high is None:
        return shown(value)
    return f"{shown(value)} ({shown(low)} to {shown(high)})"


def quality_table(summary: WindowSummary, baseline: Mapping[str, float]) -> list[str]:
    """Markdown rows: each metric with its 95% interval and the champion's baseline, and while
    labels are pending (coverage below 1), the estimate from calibrated probabilities."""
    pending = summary.label_coverage is None or summary.label_coverage < 1
    estimates = pending and any(
        row["estimated"]["value"] is not None for row in summary.quality_detail
    )
    head = "| quality | value (95% interval) | champion baseline |"
    rule = "| --- | --- | --- |"
    if estimates:
        head += " estimated before labels (95% interval) |"
        rule += " --- |"
    lines = [head, rule]
    for row in summary.quality_detail:
        name = row["metric"]
        champion = shown(baseline.get(f"quality.{name}"))
        line = f"| {name} | {_with_interval(row)} | {champion} |"
        if estimates:
            line += f" {_with_interval(row['estimated'])} |"
        lines.append(line)
    if estimates:
        lines += [
            "",
            f"Labels known for {shown(summary.label_coverage, 2)} of the rows: the "
            "estimates use every row, with probabilities calibrated on the reference.",
        ]
    return lines
