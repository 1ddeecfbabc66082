"""A window end to end: gather (in memory or in chunks), run the stages, persist in one
transaction with the policy's verdict and the alerts it raises, rescore late labels, summarize."""

from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.late_labels import refresh_labels
from monitoring_lib.pipeline.persist import WindowOutcome, persist_window
from monitoring_lib.pipeline.stages import WindowEvaluation
from monitoring_lib.pipeline.streamed import evaluate_window_streamed, needs_streaming
from monitoring_lib.pipeline.summary import WindowSummary, summarize

__all__ = [
    "WindowEvaluation", "WindowOutcome", "WindowSummary", "evaluate_window",
    "evaluate_window_streamed", "needs_streaming", "persist_window", "refresh_labels", "summarize",
]  # fmt: skip
