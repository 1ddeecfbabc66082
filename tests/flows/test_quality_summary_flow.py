"""Through Prefect on PostgreSQL: the run's summary artifact shows each quality metric with its
interval and, while labels are pending, the estimates from calibrated probabilities."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sqlalchemy import Engine

from flows.monitor import MonitorParams, monitor_model
from tests.flows.helpers import write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAY = date(2024, 5, 1)


def latest_summary() -> str:
    async def read() -> str:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=["credit-default-summary"])
                )
            )
        latest = max(found, key=lambda artifact: artifact.created or 0)
        return str(latest.data)

    return asyncio.run(read())


def test_the_summary_shows_intervals_and_estimates_while_labels_are_pending(
    tmp_path: Path, pg_store: Engine
) -> None:
    spec = write_spec_file(tmp_path, [DAY])  # half the outcomes are known
    result = monitor_model(MonitorParams(spec_path=str(spec), window_date=DAY, write_report=False))

    rows = {row["metric"]: row for row in result["quality_detail"]}
    accuracy = rows["accuracy"]
    assert accuracy["ci_lower"] < accuracy["value"] < accuracy["ci_upper"]
    estimated = accuracy["estimated"]
    assert estimated["ci_lower"] <= estimated["value"] <= estimated["ci_upper"]
    assert abs(estimated["value"] - accuracy["value"]) < 0.06  # calibrated: close to realised
    assert rows["roc_auc"]["estimated"]["value"] is not None

    markdown = latest_summary()
    assert "| quality | value (95% interval) | champion baseline | estimated before labels" in (
        markdown
    )
    line = next(x for x in markdown.splitlines() if x.startswith("| accuracy |"))
    assert f"{accuracy['value']:.3f} ({accuracy['ci_lower']:.3f} to" in line
    assert f"{estimated['value']:.3f} ({estimated['ci_lower']:.3f} to" in line
    assert "Labels known for 0.50 of the rows" in markdown
