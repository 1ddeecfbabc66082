"""A window's quality counts to and from the store: the JSON the store keeps, the counts the
pipeline and the policy compute with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from monitoring_lib.metrics.quality.counts import QualityCounts, counts_to_json
from monitoring_lib.store.counts import replace_quality_counts
from monitoring_lib.windows import Window


def store_quality_counts(
    session: Session,
    model: int,
    window: Window,
    run_id: int | None,
    counts: Mapping[str, QualityCounts],
    *,
    kinds: Sequence[str] | None = None,
) -> None:
    """Replace the window's counts (of ``kinds`` only, if given) inside the caller's transaction."""
    rows = {kind: (float(c.rows), counts_to_json(c)) for kind, c in counts.items()}
    replace_quality_counts(session, model, window, run_id, rows, kinds=kinds)
