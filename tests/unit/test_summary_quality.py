"""The run summary shows each quality metric with its interval, and the estimates while labels
are pending."""

from __future__ import annotations

from monitoring_lib.pipeline.summary import summarize, summary_markdown
from monitoring_lib.records import Metric, MetricRecord, MetricStatus


def interval(low: float, high: float) -> dict[str, float]:
    return {"ci_lower": low, "ci_upper": high, "se": 0.01}


def records(coverage: float) -> list[MetricRecord]:
    return [
        MetricRecord(Metric.ROW_COUNT, 900.0),
        MetricRecord(Metric.LABEL_COVERAGE, coverage),
        MetricRecord(Metric.ACCURACY, 0.912, details=interval(0.887, 0.933)),
        MetricRecord(Metric.ROC_AUC, None, MetricStatus.SKIPPED, details={"reason": "one class"}),
        MetricRecord(Metric.ACCURACY, 0.5, column="cat", details=interval(0.4, 0.6)),
        MetricRecord(Metric.ESTIMATED_ACCURACY, 0.921, details=interval(0.905, 0.936)),
        MetricRecord(Metric.ESTIMATED_ROC_AUC, 0.83, details=interval(0.8, 0.86)),
    ]


def test_quality_rows_pair_each_metric_with_its_interval_and_estimate() -> None:
    rows = summarize("credit", "2024-03-05", records(0.37)).quality_detail
    assert [row["metric"] for row in rows] == ["accuracy", "roc_auc"]
    accuracy, auc = rows
    assert (accuracy["value"], accuracy["ci_lower"], accuracy["ci_upper"]) == (0.912, 0.887, 0.933)
    assert accuracy["estimated"]["value"] == 0.921
    assert auc["value"] is None
    assert auc["reason"] == "one class"
    assert auc["estimated"]["ci_upper"] == 0.86


def test_markdown_shows_intervals_and_estimates_only_while_labels_are_pending() -> None:
    pending = summary_markdown(
        summarize("credit", "2024-03-05", records(0.37)), {"quality.accuracy": 0.94}
    )
    assert "| accuracy | 0.912 (0.887 to 0.933) | 0.940 | 0.921 (0.905 to 0.936) |" in pending
    assert "| roc_auc | — | — | 0.830 (0.800 to 0.860) |" in pending
    assert "Labels known for 0.37 of the rows" in pending

    complete = summary_markdown(summarize("credit", "2024-03-05", records(1.0)), {})
    assert "| accuracy | 0.912 (0.887 to 0.933) | — |" in complete
    assert "estimated" not in complete
