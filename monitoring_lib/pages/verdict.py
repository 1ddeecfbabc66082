"""The block at the top of a window's HTML report that says what driftwise decided.

Evidently's panels below it run Evidently's own tests on a sample; driftwise's verdict comes from
its own tests on the whole window and from the policy's rules, so the two can disagree (a rule on
``drift.share`` above 0.3 fires while Evidently's dataset verdict, at its drift share, says "not
detected"). The block says which is which, so the page never contradicts the run unexplained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from monitoring_lib.pages.html import text

MARKER = "<!-- driftwise:verdict -->"


@dataclass(frozen=True)
class ReportSample:
    """How many rows of each side Evidently's panels were drawn from, out of how many."""

    window_used: int
    window_rows: int
    reference_used: int
    reference_rows: int

    def sentence(self) -> str:
        """'Evidently's panels below show a seeded uniform sample of 5,000 of the window's
        100,000 rows and 5,000 of the reference's 80,000; driftwise's verdict is on all rows.'"""
        if self.window_used >= self.window_rows and self.reference_used >= self.reference_rows:
            return (
                f"Evidently's panels below show all {self.window_rows:,} rows of the window and "
                f"all {self.reference_rows:,} of the reference."
            )
        return (
            f"Evidently's panels below show a seeded uniform sample of {self.window_used:,} of "
            f"the window's {self.window_rows:,} rows and {self.reference_used:,} of the "
            f"reference's {self.reference_rows:,}; driftwise's verdict is on all rows."
        )


@dataclass(frozen=True)
class Verdict:
    """What the banner shows; plain values, so any caller can fill it."""

    model: str
    window: str
    status: str
    decision: str
    drift_share: float | None
    drifted_columns: Sequence[str]
    reasons: Sequence[str] = ()
    failed_checks: Sequence[str] = ()
    drift_mode: str = "calibrated"
    evidently_drift_share: float | None = None
    sample: ReportSample | None = None
    """The rows the report's panels show (None: not known, e.g. a report written earlier)."""
    links: Sequence[tuple[str, str]] = field(default_factory=tuple)
    """(text, href) pairs, e.g. the model's time-series page."""


_MODES = {
    "calibrated": (
        "driftwise's per-column verdicts come from its own tests on the whole window, with "
        "p-values corrected across the window's columns (Benjamini-Hochberg) and an effect-size "
        "floor; Evidently's panels below test a sample with its per-column thresholds only, so "
        "a column's verdict can differ."
    ),
    "evidently": (
        "driftwise's per-column verdicts use Evidently's tests and thresholds on the whole "
        "window; the panels below test a sample, so a borderline column can differ."
    ),
}


def banner(verdict: Verdict) -> str:
    """The verdict block (HTML, every value escaped); it keeps the marker so a later run can
    replace it."""
    share = "—" if verdict.drift_share is None else f"{verdict.drift_share:.3f}"
    drifted = ", ".join(text(c) for c in verdict.drifted_columns) or "none"
    lines = [
        f"<h2>driftwise: {text(verdict.status.upper())} · decision: {text(verdict.decision)}</h2>",
        f"<p>{text(verdict.model)}, window {text(verdict.window)}. Drift share <b>{share}</b>: "
        f"columns drifted by driftwise's tests: {drifted}.</p>",
    ]
    if verdict.reasons:
        items = "".join(f"<li>{text(reason)}</li>" for reason in verdict.reasons)
        lines.append(f"<p>Rules that fired and what followed:</p><ul>{items}</ul>")
    else:
        lines.append("<p>No rule of the policy fired on this window.</p>")
    if verdict.failed_checks:
        lines.append(f"<p>Failed checks: {text(', '.join(verdict.failed_checks))}.</p>")
    evidently = []
    if verdict.evidently_drift_share is not None:
        evidently.append(
            f"Evidently's dataset verdict below counts drift at a share of "
            f"{verdict.evidently_drift_share:g} of the columns"
        )
    note = " ".join(evidently)
    mode = _MODES.get(verdict.drift_mode, "")
    if verdict.sample is not None:
        lines.append(f"<p>{text(verdict.sample.sentence())}</p>")
    lines.append(f"<p><small>{text(note + ('. ' if note else '') + mode)}</small></p>")
    if verdict.links:
        anchors = (f'<a href="{text(href)}">{text(label)}</a>' for label, href in verdict.links)
        links = " · ".join(anchors)
        lines.append(f"<p>{links}</p>")
    status = verdict.status if verdict.status in ("red", "amber", "green") else ""
    return f'<div id="driftwise-verdict" class="{status}">{MARKER}{"".join(lines)}</div>'
