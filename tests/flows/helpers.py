"""Spec files on disk for flow tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitoring_lib import demo_data
from monitoring_lib.store.models import MetricRow
from tests.credit_world import credit_spec, write_project

DRIFT_ALERT_POLICY = {
    "rules": [
        {
            "name": "dataset-drift",
            "metric": "drift.share",
            "direction": "above",
            "threshold": 0.25,
            "severity": "high",
            "action": "alert",
        }
    ]
}
"""A policy that alerts (high) once a quarter of the features drift: the changed world does."""


def write_spec_file(
    folder: Path,
    days: Sequence[date],
    *,
    rows: int = 500,
    name: str = "credit-default",
    changed_from: date | None = None,
    extra: dict[str, Any] | None = None,
    service: bool = False,
) -> Path:
    """A credit project whose world changes on ``changed_from``; ``extra`` adds spec sections;
    ``service``: the log has latency and status columns, and the spec SLOs."""
    worlds = [(d, demo_data.world_on(d, changed_from)) for d in days]
    project = write_project(folder, worlds, rows=rows, reference_rows=3_000, service=service)
    data = credit_spec(project, name=name, service=service).model_dump(
        mode="json", exclude={"base_dir"}
    )
    data["window"]["length"] = "1d"
    data["policy"].pop("retrain_cooldown", None)  # deprecated: actions.retrain.cooldown
    data.update(extra or {})
    path = project / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def metric_rows(engine: Engine) -> list[tuple[object, ...]]:
    """Every stored metric row (key, value, status, details), in a stable order, to compare runs."""
    with Session(engine) as session:
        query = select(
            MetricRow.window_start,
            MetricRow.metric,
            MetricRow.column_name,
            MetricRow.segment,
            MetricRow.value,
            MetricRow.status,
            MetricRow.details,
        )
        return sorted(session.execute(query).all(), key=repr)
