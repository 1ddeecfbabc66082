"""What the run summary says about service health and SLOs: one line of RED figures, and per SLO
its window's good share, compliance over the period and the error budget left."""

from __future__ import annotations

import math
from collections.abc import Sequence

from monitoring_lib.records import Metric, MetricRecord


def _shown(value: float | None, digits: int = 3, suffix: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}f}{suffix}"


def service_lines(records: Sequence[MetricRecord]) -> list[str]:
    """Markdown lines, none when the window stored no service metric."""
    by_key = {r.key: r.value for r in records if r.segment == ""}
    if (Metric.SERVICE_REQUESTS, "", "") not in by_key:
        return []
    requests = by_key[(Metric.SERVICE_REQUESTS, "", "")]
    errors = by_key.get((Metric.SERVICE_ERROR_SHARE, "", ""))
    latency = " / ".join(
        _shown(by_key.get((metric, "", "")), 0)
        for metric in (Metric.SERVICE_LATENCY_P50, Metric.SERVICE_LATENCY_P95,
                       Metric.SERVICE_LATENCY_P99)
    )  # fmt: skip
    lines = [
        f"- service: {_shown(requests, 0)} requests; error share {_shown(errors, 4)}; "
        f"latency p50 / p95 / p99 {latency} ms"
    ]
    slos = sorted({r.column for r in records if r.metric == Metric.SLO_WINDOW_GOOD})
    for slo in slos:
        window = by_key.get((Metric.SLO_WINDOW_GOOD, slo, ""))
        compliance = by_key.get((Metric.SLO_COMPLIANCE, slo, ""))
        budget = by_key.get((Metric.SLO_BUDGET_REMAINING, slo, ""))
        budget_text = _shown(None if budget is None else budget * 100, 1, "%")
        lines.append(
            f"- SLO `{slo}`: {_shown(window, 4)} good in this window, "
            f"{_shown(compliance, 4)} over its period, error budget left {budget_text}"
        )
    return lines
