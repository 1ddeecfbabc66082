"""Through Prefect on PostgreSQL: the run's summary shows multivariate drift, prediction
confidence and the drifted columns ranked by their impact over the stored windows."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from flows.monitor import MonitorParams, monitor_model
from tests.flows.helpers import write_spec_file
from tests.flows.test_quality_summary_flow import latest_summary

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
FIRST = date(2024, 5, 1)
DAYS = [FIRST + timedelta(days=i) for i in range(5)]


def test_the_summary_shows_the_signals_and_drifted_columns_by_impact(
    tmp_path: Path, pg_store: Engine
) -> None:
    spec = write_spec_file(
        tmp_path, DAYS, changed_from=DAYS[-1], extra={"impact": {"min_windows": 3}}
    )
    for day in DAYS:
        result = monitor_model(
            MonitorParams(spec_path=str(spec), window_date=day, write_report=False)
        )

    signals = result["signals"]
    assert signals["multivariate"]["value"] > 0
    assert signals["multivariate"]["reference_error"] > 0
    assert signals["low_confidence"]["status"] == "drift"
    impact = signals["impact"]
    assert [row["column"] for row in impact] != []
    assert {row["column"] for row in impact} == set(result["drifted_columns"])
    assert all(row["windows"] == len(DAYS) for row in impact)
    ranked = [row["value"] for row in impact if row["value"] is not None]
    assert ranked == sorted(ranked, reverse=True)

    markdown = latest_summary()
    assert "- multivariate drift: reconstruction error" in markdown
    assert "- low-confidence predictions:" in markdown
    assert "- predicted classes (reference):" in markdown
    assert "| drifted column, by likely impact | Spearman with quality.accuracy loss |" in markdown
    lines = [x for x in markdown.splitlines() if x.startswith("| `")]
    assert [x.split("`")[1] for x in lines] == [row["column"] for row in impact]
