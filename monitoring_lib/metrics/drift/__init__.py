"""Drift of a window against the reference, per column and segment, with quiet verdicts.

``stattests`` (equal to Evidently's), ``nulls`` (calibration), ``sketches`` (window statistics,
exact or merged from chunks), ``scoring`` (one column), ``memory`` and ``streamed`` (a window)."""

from monitoring_lib.metrics.drift.memory import compute_drift
from monitoring_lib.metrics.drift.streamed import compute_drift_streamed

__all__ = ["compute_drift", "compute_drift_streamed"]
