"""whylogs profiles: built fast and in parallel where it pays, merged, stored, and read back as
metric records. whylogs itself is imported only by ``whylogs_api`` (it needs a NumPy-2 alias)."""

from monitoring_lib.metrics.profiling.profiles import (
    PROFILE_FORMAT,
    cached_reference_view,
    cached_reference_view_of_chunks,
    content_hash_of_chunks,
    content_hash_of_frame,
    merge_views,
    profile_chunks,
    profile_frame,
    read_view,
    write_view,
)
from monitoring_lib.metrics.profiling.whylogs_api import (
    ColumnProfileView,
    DatasetProfileView,
    FrequentItem,
    MetricConstraint,
    factories,
)

__all__ = [
    "PROFILE_FORMAT", "ColumnProfileView", "DatasetProfileView", "FrequentItem", "MetricConstraint",
    "cached_reference_view", "cached_reference_view_of_chunks", "content_hash_of_chunks",
    "content_hash_of_frame", "factories", "merge_views", "profile_chunks", "profile_frame",
    "read_view", "write_view",
]  # fmt: skip
