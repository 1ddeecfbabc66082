"""Late labels: recompute quality for past windows whose labels arrived since they were scored.

Only the quality and label-coverage metrics of a window, and its realised quality counts, are
replaced; its drift, profile, data-quality and estimated metrics stay exactly as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.io.loading import load_window, scoring_columns
from monitoring_lib.pipeline.counts_store import store_quality_counts
from monitoring_lib.pipeline.quality import REALISED, realised_quality
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.repository import model_id, replace_metric_families, stored_windows
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
    """Rescore each stored window (from ``since``) that has gained labels since it was scored."""
    if spec.columns.target is None:
        raise ValueError(f"{spec.name}: no columns.target, so there are no labels to refresh")
    with sessions() as session:
        model = model_id(session, spec.name)
        windows = [] if model is None else stored_windows(session, model, since)
    outcomes = []
    for stored in windows:
        window = Window(stored.start, stored.end, spec.window.timezone)
        data = load_window(spec, window, as_of=as_of, columns=scoring_columns(spec))
        grew = stored.labelled_rows is None or data.labelled_rows > stored.labelled_rows
        if grew and model is not None:
            with sessions.begin() as session:
                quality = realised_quality(spec, data.frame)
                run_id = replace_metric_families(
                    session, model, window, REFRESHED_FAMILIES, quality.records
                )
                store_quality_counts(
                    session, model, window, run_id, quality.counts, kinds=[REALISED]
                )
        outcomes.append(LabelRefresh(window, stored.labelled_rows, data.labelled_rows, grew))
    return outcomes
