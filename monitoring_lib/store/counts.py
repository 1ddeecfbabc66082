"""Reads and writes of windows' quality counts (``quality_counts``), as plain JSON.

The counts' own types live in ``metrics.quality.counts``; the store keeps their JSON so that it
needs to know nothing about them. Functions take a Session; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitoring_lib.store.models import QualityCount
from monitoring_lib.windows import Window


def replace_quality_counts(
    session: Session,
    model: int,
    window: Window,
    run_id: int | None,
    counts: Mapping[str, tuple[float, dict[str, Any]]],
    *,
    kinds: Sequence[str] | None = None,
) -> None:
    """Replace the window's counts of ``kinds`` (default: every kind) with ``counts``.

    ``counts`` maps a kind ('realised', 'expected') to (rows, JSON of the counts).
    """
    query = delete(QualityCount).where(
        QualityCount.model_id == model, QualityCount.window_start == window.start
    )
    if kinds is not None:
        query = query.where(QualityCount.kind.in_(list(kinds)))
    session.execute(query)
    for kind, (rows, data) in counts.items():
        if kinds is not None and kind not in kinds:
            raise ValueError(
                f"counts of kind {kind!r} are outside the kinds {list(kinds)} replaced"
            )
        session.add(
            QualityCount(
                model_id=model,
                window_start=window.start,
                window_end=window.end,
                kind=kind,
                run_id=run_id,
                rows=rows,
                counts=data,
            )
        )
    session.flush()


def quality_counts_between(
    session: Session, model: int, kind: str, start: datetime, end: datetime
) -> dict[datetime, dict[str, Any]]:
    """JSON counts of ``kind`` of the windows starting in [start, end), by window start."""
    query = select(QualityCount.window_start, QualityCount.counts).where(
        QualityCount.model_id == model,
        QualityCount.kind == kind,
        QualityCount.window_start >= start,
        QualityCount.window_start < end,
    )
    return {window_start: dict(data) for window_start, data in session.execute(query)}
