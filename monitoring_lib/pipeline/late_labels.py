"""Late labels: recompute quality for past windows whose labels arrived since they were scored.

Only the quality and label-coverage metrics of a window, and its realised quality counts, are
replaced; its drift, profile, data-quality and estimated metrics stay exactly as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.io.loading import load_windows, scoring_columns
from monitoring_lib.pipeline.counts_store import store_quality_counts
from monitoring_lib.pipeline.quality import REALISED, realised_quality
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.repository import (
    StoredWindow,
    model_id,
    replace_metric_families,
    stored_windows,
)
from monitoring_lib.windows import Window

REFRESHED_FAMILIES = ("quality.", "labels.")


@dataclass(frozen=True)
class LabelRefresh:
    window: Window
    labelled_before: int | None
    labelled_now: int
    refreshed: bool


def refresh_labels(
    spec: MonitorSpec,
    sessions: sessionmaker[Session],
    *,
    as_of: datetime | None = None,
    since: datetime | None = None,
) -> list[LabelRefresh]:
    """Rescore each stored window (from ``since``) that has gained labels since it was scored.

    The stored windows' predictions (scoring columns only) and their labels are read once for
    all of them; only the windows whose labelled rows grew are rescored and written.
    """
    if spec.columns.target is None:
        raise ValueError(f"{spec.name}: no columns.target, so there are no labels to refresh")
    with sessions() as session:
        model = model_id(session, spec.name)
        stored = [] if model is None else stored_windows(session, model, since)
    outcomes = []
    for batch in _batches(spec, stored):
        outcomes += _refresh_batch(spec, sessions, model, batch, as_of)
    return outcomes


def _batches(spec: MonitorSpec, stored: list[StoredWindow]) -> Iterator[list[StoredWindow]]:
    """Consecutive windows whose scoring columns fit ``memory.max_cells_in_memory`` together
    (by the rows each had when last scored), so a long refresh still reads in bounded memory."""
    width = len(scoring_columns(spec)) + 1
    batch: list[StoredWindow] = []
    cells = 0
    for window in stored:
        size = (window.window_rows or 0) * width
        if batch and cells + size > spec.memory.max_cells_in_memory:
            yield batch
            batch, cells = [], 0
        batch.append(window)
        cells += size
    if batch:
        yield batch


def _refresh_batch(
    spec: MonitorSpec,
    sessions: sessionmaker[Session],
    model: int | None,
    stored: list[StoredWindow],
    as_of: datetime | None,
) -> list[LabelRefresh]:
    windows = [Window(s.start, s.end, spec.window.timezone) for s in stored]
    loaded = load_windows(spec, windows, as_of=as_of, columns=scoring_columns(spec))
    outcomes = []
    for before, data in zip(stored, loaded, strict=True):
        grew = before.labelled_rows is None or data.labelled_rows > before.labelled_rows
        if grew and model is not None:
            with sessions.begin() as session:
                quality = realised_quality(spec, data.frame)
                run_id = replace_metric_families(
                    session, model, data.window, REFRESHED_FAMILIES, quality.records
                )
                store_quality_counts(
                    session, model, data.window, run_id, quality.counts, kinds=[REALISED]
                )
        outcomes.append(LabelRefresh(data.window, before.labelled_rows, data.labelled_rows, grew))
    return outcomes
