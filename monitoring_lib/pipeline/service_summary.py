"""What the run summary says about service health and SLOs: one line of RED figures, and per SLO
its window's good share, compliance over the period and the error budget left."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from monitoring_lib.records import Metric, MetricRecord

RED = {
    "requests": Metric.SERVICE_REQUESTS,
    "error_share": Metric.SERVICE_ERROR_SHARE,
    "latency_p50": Metric.SERVICE_LATENCY_P50,
    "latency_p95": Metric.SERVICE_LATENCY_P95,
    "latency_p99": Metric.SERVICE_LATENCY_P99,
}
PER_SLO = {
    "window_good": Metric.SLO_WINDOW_GOOD,
    "compliance": Metric.SLO_COMPLIANCE,
    "budget_remaining": Metric.SLO_BUDGET_REMAINING,
}


def _shown(value: float | None, digits: int = 3, suffix: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}{suffix}"


def service_figures(records: Sequence[MetricRecord]) -> dict[str, Any]:
    """The window's RED figures and, per SLO, its figures, as plain values (for the flow's result
    and the demo's table); empty when the window stored no service metric."""
    by_key = {r.key: r.value for r in records if r.segment == ""}
    if (Metric.SERVICE_REQUESTS, "", "") not in by_key:
        return {}
    slos = sorted({r.column for r in records if r.metric == Metric.SLO_WINDOW_GOOD})
    return {
        **{name: by_key.get((metric, "", "")) for name, metric in RED.items()},
        "slos": {
            slo: {name: by_key.get((metric, slo, "")) for name, metric in PER_SLO.items()}
            for slo in slos
        },
    }


def service_lines(records: Sequence[MetricRecord]) -> list[str]:
    """Markdown lines, none when the window stored no service metric."""
    figures = service_figures(records)
    if not figures:
        return []
    latency = " / ".join(
        _shown(figures[name], 0) for name in ("latency_p50", "latency_p95", "latency_p99")
    )
    lines = [
        f"- service: {_shown(figures['requests'], 0)} requests; error share "
        f"{_shown(figures['error_share'], 4)}; latency p50 / p95 / p99 {latency} ms"
    ]
    for slo, row in figures["slos"].items():
        budget = row["budget_remaining"]
        budget_text = _shown(None if budget is None else budget * 100, 1, "%")
        lines.append(
            f"- SLO `{slo}`: {_shown(row['window_good'], 4)} good in this window, "
            f"{_shown(row['compliance'], 4)} over its period, error budget left {budget_text}"
        )
    return lines
