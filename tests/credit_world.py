"""A small credit-risk project on disk (parquet log, reference and labels) for tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from monitoring_lib import demo_data
from monitoring_lib.spec.monitor import MonitorSpec, parse_spec

ZONE = "Europe/Berlin"


def scored(frame: pd.DataFrame) -> pd.DataFrame:
    """A 'model' that knows the stationary world exactly."""
    probability = demo_data.default_probability(frame, demo_data.STATIONARY)
    return frame.assign(
        default_probability=probability, predicted_default=(probability > 0.5).astype(int)
    )


def write_project(
    folder: Path,
    days: Sequence[tuple[date, demo_data.World]],
    *,
    rows: int = 2_000,
    reference_rows: int = 8_000,
    label_every: int = 2,
    service: bool = False,
) -> Path:
    """Reference, one log and labels for every ``label_every``-th application; returns the folder."""
    rng = np.random.default_rng(7)
    scored(demo_data.reference_set(reference_rows, seed=1)).to_parquet(folder / "reference.parquet")
    logs, labels = [], []
    for offset, (day, world) in enumerate(days):
        frame, outcome = demo_data.traffic_day(
            day, rows, world, ZONE, rng, first_id=offset * 1_000_000
        )
        logs.append(demo_data.with_service(scored(frame), day) if service else scored(frame))
        labels.append(demo_data.label_rows(frame, outcome, rng, (1, 3)))
    pd.concat(logs).to_parquet(folder / "log.parquet")
    all_labels = pd.concat(labels)
    all_labels.to_parquet(folder / "all_labels.parquet")
    all_labels.iloc[::label_every].to_parquet(folder / "labels.parquet")
    return folder


def reveal_all_labels(folder: Path) -> None:
    """Late labels arrive: the labels file now holds every outcome."""
    pd.read_parquet(folder / "all_labels.parquet").to_parquet(folder / "labels.parquet")


def credit_spec(folder: Path, name: str = "credit-default", service: bool = False) -> MonitorSpec:
    """The project's spec; ``service``: with the log's latency and status columns and SLOs."""
    columns = {**demo_data.COLUMNS, **(demo_data.SERVICE_COLUMNS if service else {})}
    extra = {"service": demo_data.SERVICE} if service else {}
    return parse_spec(
        {
            "name": name,
            "task": "binary",
            "window": {"timezone": ZONE},
            "sources": {
                "predictions": {"path": "log.parquet"},
                "reference": {"path": "reference.parquet"},
                "labels": {"path": "labels.parquet"},
            },
            "columns": columns,
            **extra,
        },
        base_dir=folder,
    )
