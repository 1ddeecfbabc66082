"""The retrain and rollback steps as the flows run them, each on a session it is given.

Each function is one step a Prefect task wraps (and retries): it reads what it needs from the
store, calls the pure pieces (training set, scores, gate, promotion rules), and writes its rows.
Keeping them here leaves ``tasks/`` with logging and retries only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from monitoring_lib.actions.external import is_external, logged_columns, score_against_log
from monitoring_lib.actions.gate import GateResult, gate
from monitoring_lib.actions.promotion import champion_to_mark_good
from monitoring_lib.actions.registry import CHALLENGER, CHAMPION, ModelRegistry
from monitoring_lib.actions.retrain import record_gate
from monitoring_lib.actions.training import (
    Holdout,
    Scores,
    TrainingDataError,
    build_training_set,
    pick_training_windows,
    score_model,
    split_holdout,
)
from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.spec.actions import RetrainSpec
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.store.repository import ensure_model, stored_windows
from monitoring_lib.windows import Window


def training_holdout(
    session: Session, spec: MonitorSpec, settings: RetrainSpec, as_of: datetime
) -> Holdout:
    """Recent labelled windows (re-read with the labels known by ``as_of``), and the reference,
    split into a training set and a seeded holdout."""
    if spec.columns.target is None:
        raise TrainingDataError(f"{spec.name}: retraining needs columns.target")
    model = ensure_model(session, spec.name, spec.task.value)
    stored = [w for w in stored_windows(session, model) if w.end <= as_of]
    chosen = pick_training_windows(stored, settings.windows)
    frames = [
        load_window(spec, Window(w.start, w.end, spec.window.timezone), as_of=as_of).frame
        for w in chosen
    ]
    data = build_training_set(
        frames,
        features=spec.columns.features,
        target=spec.columns.target,
        reference=load_reference(spec) if settings.include_reference else None,
        min_labelled_rows=settings.min_labelled_rows,
        carry=logged_columns(spec),
    )
    return split_holdout(
        data,
        fraction=settings.holdout_fraction,
        seed=settings.seed,
        classification=spec.task.value != "regression",
    )


@dataclass(frozen=True)
class Contest:
    """Champion and challenger scored on the same holdout rows."""

    champion: Scores | None
    """None when there is no champion to compare with."""
    challenger: Scores
    champion_version: int | None
    basis: str = ""
    """How the champion was scored, when not by running its model file (the serving model)."""


def score_both(
    registry: ModelRegistry, spec: MonitorSpec, challenger: Any, holdout: Holdout
) -> Contest:
    """Both models on the same holdout; the champion is read from the registry. An external
    champion (the serving model) is scored from its logged predictions on the holdout rows."""
    version = registry.get_alias(spec.name, CHAMPION)
    if version is not None and is_external(registry, spec.name, version):
        served, contender, basis = score_against_log(spec, challenger, holdout)
        return Contest(served, contender, version, basis)
    champion = registry.load(spec.name, version) if version is not None else None
    x, y, task = holdout.holdout_features, holdout.holdout_target, spec.task.value
    return Contest(
        score_model(champion, x, y, task=task) if champion is not None else None,
        score_model(challenger, x, y, task=task),
        version,
    )


def register_and_gate(
    session: Session,
    registry: ModelRegistry,
    spec: MonitorSpec,
    settings: RetrainSpec,
    challenger: Any,
    contest: Contest,
    *,
    now: datetime,
    flow_run_id: str | None,
) -> tuple[int, GateResult]:
    """Register the challenger (alias ``challenger``) and record the gate's verdict on it."""
    champion = contest.champion.values if contest.champion else None
    result = gate(champion, contest.challenger.values, settings.metric, settings.margin)
    if contest.basis:
        result = replace(result, reasons=(*result.reasons, contest.basis))
    version = registry.register(
        spec.name, challenger, dict(contest.challenger.values), {"source": "retrain"}
    )
    registry.set_alias(spec.name, CHALLENGER, version)
    record_gate(
        session,
        ensure_model(session, spec.name, spec.task.value),
        result,
        now=now,
        champion_version=contest.champion_version,
        challenger_version=version,
        scores={"champion": champion, "challenger": contest.challenger.values},
        flow_run_id=flow_run_id,
    )
    return version, result


def rollback_limit(spec: MonitorSpec, decided_by: str) -> timedelta | None:
    """How long after a promotion a rollback may undo it: only the policy's automatic rollbacks
    are limited (to ``actions.rollback.within``); a person's are not."""
    rollback = spec.actions.rollback
    return rollback.within if decided_by == "policy" and rollback is not None else None


def mark_champion_good(
    session: Session, registry: ModelRegistry, spec: MonitorSpec, now: datetime
) -> int | None:
    """Mark the champion good once it served a whole rollback period without a critical finding;
    the version marked, if any."""
    if spec.actions.rollback is None:
        return None
    version = champion_to_mark_good(
        session, registry, spec.name, now=now, within=spec.actions.rollback.within
    )
    if version is not None:
        registry.mark_good(spec.name, version, True)
    return version
