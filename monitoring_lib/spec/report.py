"""The optional ``report:`` section: how much of a window Evidently's HTML report draws."""

from __future__ import annotations

from pydantic import Field

from monitoring_lib.spec.base import Strict


class ReportSettings(Strict):
    """The HTML report is for people and Evidently's cost grows with its rows (at 100k x 50 it
    took longer than everything else a run does), so it draws a seeded uniform sample of each
    side; driftwise's stored verdicts are computed on all rows whatever this says, and the
    report's banner says how many rows of how many it shows."""

    sample_rows: int = Field(5_000, ge=100)
    """Rows per side (window and reference) Evidently's report is built from."""
