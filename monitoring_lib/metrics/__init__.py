"""What a window measures: whylogs profiles and data-quality checks, the schema check, drift
(``metrics.drift``), model quality and the Evidently HTML report. Each returns ``MetricRecord``s.

Importing this package loads whylogs and Evidently; the lighter ``metrics.drift`` modules can be
imported on their own."""

from monitoring_lib.metrics.data_quality import check_constraints, derive_constraints
from monitoring_lib.metrics.profiling import profile_chunks, profile_frame, read_view, write_view
from monitoring_lib.metrics.quality.compute import compute_quality
from monitoring_lib.metrics.reports import write_drift_report
from monitoring_lib.metrics.schema import check_schema, column_kinds

__all__ = [
    "check_constraints", "check_schema", "column_kinds", "compute_quality", "derive_constraints",
    "profile_chunks", "profile_frame", "read_view", "write_drift_report", "write_view",
]  # fmt: skip
