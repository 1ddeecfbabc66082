"""Reading a model's data: file and SQL sources, a window's rows with their labels, the reference,
and where artifacts (profiles, reports, model files) live."""

from monitoring_lib.io.artifacts import model_folder
from monitoring_lib.io.loading import (
    WindowData,
    check_sources,
    load_labels,
    load_reference,
    load_window,
)
from monitoring_lib.io.sources import SourceError

__all__ = [
    "SourceError", "WindowData", "check_sources", "load_labels", "load_reference", "load_window",
    "model_folder",
]  # fmt: skip
