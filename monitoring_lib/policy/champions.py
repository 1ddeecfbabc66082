"""Which champion was in force at each window, from the action log: relative and CUSUM rules of
a past window compare with the baseline its own run compared with, not today's.

A promotion or rollback at time t (the window time it was decided at, e.g. the run's scheduled
time) applies to the windows that end after t: the window whose verdict asked for it was judged
under the previous champion. A champion set outside the action log (a version registered by
hand, the serving model registered at the first run) counts from the last recorded change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from monitoring_lib.policy.rules import Baseline
from monitoring_lib.store.models import Action, ModelAlias, ModelVersion

CHAMPION = "champion"
_CHANGES = or_(
    and_(Action.kind == "promote", Action.status == "promoted"),
    and_(Action.kind == "rollback", Action.status == "rolled_back"),
)


@dataclass(frozen=True)
class ChampionPeriod:
    """A champion and when it took over (None: before any recorded change)."""

    since: datetime | None
    version: int | None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def baseline(self) -> Baseline:
        return Baseline(self.metrics, self.version)


def numeric_metrics(metrics: dict[str, Any] | None) -> dict[str, float]:
    """A version's finite numeric metrics: what relative thresholds compare with."""
    return {
        name: float(value)
        for name, value in (metrics or {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def _version(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def champion_periods(session: Session, model: int) -> list[ChampionPeriod]:
    """The model's champions in the order they served, oldest first (at least one period)."""
    versions = {
        row.version: numeric_metrics(row.metrics)
        for row in session.execute(
            select(ModelVersion).where(ModelVersion.model_id == model)
        ).scalars()
    }
    current = session.execute(
        select(ModelVersion.version)
        .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
        .where(ModelAlias.model_id == model, ModelAlias.alias == CHAMPION)
    ).scalar_one_or_none()
    changes = session.execute(
        select(Action.requested_at, Action.metrics)
        .where(Action.model_id == model, _CHANGES)
        .order_by(Action.requested_at, Action.id)
    ).all()
    chain: list[tuple[datetime | None, int | None]] = [
        (None, _version(changes[0][1].get("from_version")) if changes else current)
    ]
    chain += [(at, _version(metrics.get("to_version"))) for at, metrics in changes]
    if chain[-1][1] != current:
        chain[-1] = (chain[-1][0], current)
    return [ChampionPeriod(at, v, versions.get(v, {}) if v else {}) for at, v in chain]


def champion_at(periods: Sequence[ChampionPeriod], window_end: datetime) -> ChampionPeriod:
    """The champion in force for the window ending at ``window_end``."""
    chosen = periods[0]
    for period in periods[1:]:
        if period.since is not None and period.since < window_end:
            chosen = period
    return chosen
