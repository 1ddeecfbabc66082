"""Prometheus families of the signals beyond per-column drift (``v_signal_daily``): multivariate
drift, prediction confidence and drift impact, one family per stored metric, labelled by model
and column (a predicted class or a drifted column; empty at dataset level)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric

SIGNAL_FAMILIES = {
    "multivariate.reconstruction_error": (
        "driftwise_multivariate_reconstruction_error",
        "Mean distance of the window's rows to the reference's principal subspace.",
    ),
    "multivariate.drift": (
        "driftwise_multivariate_drift",
        "1 when the features' joint distribution drifted (calibrated verdict), else 0.",
    ),
    "prediction.low_confidence_share": (
        "driftwise_low_confidence_ratio",
        "Share of predictions in the spec's low-confidence band (0-1).",
    ),
    "prediction.class_share": (
        "driftwise_predicted_class_ratio",
        "Share of the window's predictions per predicted class (0-1).",
    ),
    "prediction.class_shift": (
        "driftwise_predicted_class_shift",
        "Jensen-Shannon distance of predicted classes from the reference's.",
    ),
    "prediction.mean_probability": (
        "driftwise_mean_probability",
        "Mean predicted probability (positive class, or per class).",
    ),
    "drift.impact": (
        "driftwise_drift_impact",
        "Spearman correlation of a drifted column's drift with quality loss over history.",
    ),
}
"""Stored signal -> (exported family, help)."""


def signal_families(
    models: Iterable[tuple[str, Mapping[tuple[str, str], float]]],
) -> list[Metric]:
    """One family per signal from each model's ((metric, column) -> value) of its latest window."""
    families = {
        metric: GaugeMetricFamily(name, text, labels=["model", "column"])
        for metric, (name, text) in SIGNAL_FAMILIES.items()
    }
    for model, values in models:
        for (metric, name), value in sorted(values.items()):
            if metric in families:
                families[metric].add_metric([model, name], float(value))
    return list(families.values())
