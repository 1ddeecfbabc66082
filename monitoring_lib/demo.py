"""The demo's world on disk: a credit-risk model in production, day by day.

Each simulated day, applications arrive, the current champion scores them (so a promoted model
really changes the predictions), and outcomes become known days later. The log also records each
request's latency and HTTP status. Before the world changes, two things go wrong that per-column
drift cannot see: for a few days a broken upstream join reverses the link between age and credit
history (each column's distribution unchanged), and for one day the scoring service is slow and
fails requests. The spec it writes is an ordinary monitor spec: the demo runs the same flows a
user schedules.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import yaml

from monitoring_lib import demo_data
from monitoring_lib.actions.training import TrainingSet, score_model, split_holdout
from monitoring_lib.example_trainer import train
from monitoring_lib.spec.monitor import MonitorSpec

MODEL = "credit-default"
TIMEZONE = "Europe/Berlin"
EARLY_LABELS = 0.4
"""Share of outcomes known within hours (early-payment signals); the rest take 2 to 6 days."""
HISTORY_LINK = 0.7
"""Older applicants have longer credit histories: the correlation the flip reverses."""
STATIONARY = replace(demo_data.STATIONARY, history_link=HISTORY_LINK)
FLIPPED = replace(STATIONARY, history_link=-HISTORY_LINK)
CHANGED = replace(demo_data.CHANGED, history_link=HISTORY_LINK)
FLIP = (8, 3)
"""The correlation flip: starts this many days before the change and lasts this many days."""
INCIDENT = (4, 1)
"""The service incident: starts this many days before the change and lasts this many days."""
INCIDENT_ERRORS = 0.05
INCIDENT_SLOWDOWN = 4.0
"""During the incident, 5% of requests fail and every request takes four times as long."""
MULTIVARIATE = {"effect_floor": 0.05}
"""After a promotion the reference is a week of labelled traffic: its held-out error, which every
later window is compared with, is itself a percent or two off, so the demo asks for a 5% rise."""
SERVICE: dict[str, Any] = {
    "errors": {"at_least": 500},
    "slos": [
        {"name": "availability", "objective": 0.995, "period": "30d"},
        {"name": "fast", "objective": 0.95, "latency_below_ms": 250, "period": "30d"},
    ],
}

POLICY: dict[str, Any] = {
    "rules": [
        {
            "name": "joint-drift",
            "metric": "multivariate.drift",
            "direction": "above",
            "threshold": 0.5,
            "persistence": {"breaches": 2, "windows": 3},
            "severity": "warning",
            "action": "alert",
        },
        *(
            {
                "name": f"{slo}-burn",
                "metric": "slo.burn_rate",
                "column": slo,
                "direction": "above",
                "threshold": {"long": "3d", "short": "1d", "factor": 2},
                "severity": "high",
                "action": "alert",
            }
            for slo in ("availability", "fast")
        ),
        {
            "name": "dataset-drift",
            "metric": "drift.share",
            "direction": "above",
            "threshold": 0.3,
            "clear": 0.15,
            "persistence": {"breaches": 2, "windows": 3},
            "severity": "warning",
            "action": "alert",
        },
        {
            "name": "accuracy-drop",
            "metric": "quality.accuracy",
            "direction": "below",
            "threshold": {"delta": -0.06},
            "persistence": {"breaches": 2, "windows": 3},
            "severity": "high",
            "action": "retrain",
        },
    ],
}
ACTIONS: dict[str, Any] = {
    "retrain": {
        "trainer": "monitoring_lib.example_trainer:train",
        "metric": "quality.roc_auc",
        "margin": 0.01,
        "windows": 7,
        "include_reference": False,
        "cooldown": "7d",
    },
    "rollback": {"within": "14d"},
}


@dataclass(frozen=True)
class DemoWorld:
    folder: Path
    first_day: date
    days: int
    change_after: int
    rows_per_day: int
    seed: int = 42

    @property
    def change_day(self) -> date:
        return self.first_day + timedelta(days=self.change_after)

    @property
    def spec_path(self) -> Path:
        return self.folder / f"{MODEL}.yaml"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def day(self, index: int) -> date:
        return self.first_day + timedelta(days=index)

    def _before_change(self, start_and_length: tuple[int, int]) -> range:
        """Day indices of an event placed before the change (none if the demo is too short)."""
        start, length = start_and_length
        first = self.change_after - start
        return range(first, first + length) if first > 0 else range(0)

    @property
    def flip_days(self) -> range:
        return self._before_change(FLIP)

    @property
    def incident_days(self) -> range:
        return self._before_change(INCIDENT)

    def phase(self, index: int) -> str:
        """What day ``index`` holds: 'stationary', 'corr. flip' (the correlation flip), 'incident'
        (the service incident) or 'changed'."""
        if index >= self.change_after:
            return "changed"
        if index in self.flip_days:
            return "corr. flip"
        return "incident" if index in self.incident_days else "stationary"

    def features_world(self, index: int) -> demo_data.World:
        phase = self.phase(index)
        return {"changed": CHANGED, "corr. flip": FLIPPED}.get(phase, STATIONARY)

    def run_time(self, day: date) -> datetime:
        """When the daily run for ``day`` happens: 01:30 local the next morning."""
        return datetime.combine(day + timedelta(days=1), time(1, 30), tzinfo=ZoneInfo(TIMEZONE))


def write_spec(world: DemoWorld) -> Path:
    spec = {
        "name": MODEL,
        "task": "binary",
        "window": {"length": "1d", "timezone": TIMEZONE, "cron": "30 1 * * *"},
        "sources": {
            "predictions": {"path": "data/predictions/*.parquet"},
            "reference": {"path": "data/reference.parquet"},
            "labels": {"path": "data/labels/*.parquet"},
        },
        "columns": {
            **demo_data.COLUMNS,
            **demo_data.SERVICE_COLUMNS,
            "label_timestamp": "labelled_at",
        },
        "service": SERVICE,
        "multivariate": MULTIVARIATE,
        "policy": POLICY,
        "actions": ACTIONS,
    }
    world.folder.mkdir(parents=True, exist_ok=True)
    world.spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return world.spec_path


def first_model(world: DemoWorld, spec: MonitorSpec) -> tuple[Any, dict[str, float]]:
    """Train v1 on the stationary world; write the reference it was trained on."""
    reference = demo_data.reference_set(12_000, seed=world.seed, world=STATIONARY)
    training = TrainingSet(
        reference[demo_data.NUMERICAL + demo_data.CATEGORICAL], reference["defaulted"], {}
    )
    holdout = split_holdout(training, fraction=0.25, seed=world.seed, classification=True)
    model = train(holdout.train_features, holdout.train_target, spec=spec)
    scores = score_model(model, holdout.holdout_features, holdout.holdout_target, task="binary")
    world.data.mkdir(parents=True, exist_ok=True)
    scored(model, reference).to_parquet(world.data / "reference.parquet")
    return model, {k: v for k, v in scores.values.items() if v is not None and np.isfinite(v)}


def scored(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    probability = model.predict_proba(frame[demo_data.NUMERICAL + demo_data.CATEGORICAL])[:, 1]
    return frame.assign(
        default_probability=probability, predicted_default=(probability >= 0.5).astype(int)
    )


def simulate_day(world: DemoWorld, index: int, champion: Any) -> int:
    """Write day ``index``'s scored traffic and its late labels; returns the rows written."""
    day = world.day(index)
    rng = np.random.default_rng([world.seed, index])
    frame, outcome = demo_data.traffic_day(
        day, world.rows_per_day, world.features_world(index), TIMEZONE, rng,
        first_id=index * 1_000_000,
    )  # fmt: skip
    incident = index in world.incident_days
    frame = demo_data.with_service(
        frame, day,
        error_rate=INCIDENT_ERRORS if incident else 0.001,
        slowdown=INCIDENT_SLOWDOWN if incident else 1.0,
    )  # fmt: skip
    early = rng.random(len(frame)) < EARLY_LABELS
    delay = pd.to_timedelta(
        np.where(early, rng.uniform(0.05, 0.2, len(frame)), rng.uniform(2, 6, len(frame))), unit="D"
    )
    labels = pd.DataFrame(
        {
            "application_id": frame["application_id"],
            "defaulted": outcome,
            "labelled_at": frame["scored_at"] + delay,
        }
    )
    for folder in ("predictions", "labels"):
        (world.data / folder).mkdir(parents=True, exist_ok=True)
    scored(champion, frame).to_parquet(world.data / "predictions" / f"{day}.parquet")
    labels.to_parquet(world.data / "labels" / f"{day}.parquet")
    return len(frame)


def adopt_reference(world: DemoWorld, last_days: int, as_of: datetime, champion: Any) -> int:
    """After a promotion, make the recent labelled traffic the new reference, as a team would."""
    logs = sorted((world.data / "predictions").glob("*.parquet"))[-last_days:]
    frames = pd.concat([pd.read_parquet(p) for p in logs], ignore_index=True)
    labels = pd.concat(
        [pd.read_parquet(p) for p in sorted((world.data / "labels").glob("*.parquet"))]
    )
    known = labels[labels["labelled_at"] <= pd.Timestamp(as_of)][["application_id", "defaulted"]]
    served = ["default_probability", "predicted_default", *demo_data.SERVICE_COLUMNS.values()]
    reference = frames.merge(known, on="application_id").drop(columns=served)
    scored(champion, reference).to_parquet(world.data / "reference.parquet")
    return len(reference)
