"""Acceptance: `driftwise backfill` (a real process, against the suite's Prefect API, into
PostgreSQL) over a hostile log: a NUL byte, a `</script>` payload as a category value and as a
column name, emoji, 5 kB strings, and a day with no predictions under a row-count rule.

Every non-empty day is stored, the rule fires on the empty one (and only there), and no saved
HTML file runs the payload.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from prefect.settings import PREFECT_API_URL
from sqlalchemy import Engine, select

from monitoring_lib import demo_data
from monitoring_lib.store.models import MetricRow, PolicyEvaluation, Run
from monitoring_lib.windows import window_starting_on
from tests.conftest import _truncate
from tests.credit_world import ZONE, credit_spec, write_project
from tests.html_safety import PAYLOAD, injected_scripts, shows_as_text

pytestmark = [pytest.mark.postgres, pytest.mark.prefect, pytest.mark.timeout(1_800)]
"""The backfill (its fixture) runs four windows with reports: ~2.5 min on 2 quiet cores."""
DAYS = [date(2024, 5, 1) + timedelta(days=i) for i in range(4)]
EMPTY = DAYS[2]
ROWS = 300
NUL_VALUE = "north\x00east"
LONG_VALUE = "x" * 5_000
EMOJI_VALUE = "🚀 salaried"
POLICY = {
    "data_missing": {},
    "rules": [
        {"name": "feed-stopped", "metric": "window.row_count", "direction": "below",
         "threshold": 1, "severity": "critical"},
    ],
}  # fmt: skip


def hostile(frame: pd.DataFrame) -> pd.DataFrame:
    """Every kind of hostile value in some rows, and the payload as a column's name."""
    index = np.arange(len(frame))
    return frame.assign(
        region=np.where(index % 5 == 0, NUL_VALUE, frame["region"]),
        loan_purpose=np.select(
            [index % 7 == 0, index % 11 == 0], [PAYLOAD, LONG_VALUE], frame["loan_purpose"]
        ),
        employment_type=np.where(index % 13 == 0, EMOJI_VALUE, frame["employment_type"]),
    ).rename(columns={"employment_type": PAYLOAD})


def write_hostile_project(folder: Path) -> Path:
    worlds = [(day, demo_data.STATIONARY) for day in DAYS if day != EMPTY]
    write_project(folder, worlds, rows=ROWS, reference_rows=2_000)
    hostile(pd.read_parquet(folder / "reference.parquet")).to_parquet(folder / "reference.parquet")
    log = hostile(pd.read_parquet(folder / "log.parquet"))
    log.to_csv(folder / "log.csv", index=False)  # CSV: the NUL byte is in the file as written
    (folder / "log.parquet").unlink()
    data = credit_spec(folder).model_dump(mode="json", exclude={"base_dir"})
    data["window"]["length"] = "1d"
    data["sources"]["predictions"] = {"path": "log.csv"}
    data["columns"]["categorical"] = [PAYLOAD, "region", "loan_purpose"]
    data["policy"] = POLICY
    spec = folder / "hostile.yaml"
    spec.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return spec


@dataclass(frozen=True)
class Backfilled:
    exit_code: int
    output: str
    rows: dict[datetime, int | None]
    firing: set[tuple[datetime, str]]
    payload_metrics: int
    nul_kept: bool
    reports: list[Path]


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory, pg_engine: Engine) -> Backfilled:
    """One backfill of the four days through the command line; what it stored, read back."""
    _truncate(pg_engine)
    folder = tmp_path_factory.mktemp("hostile")
    spec = write_hostile_project(folder)
    home = folder / ".driftwise"
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "DRIFTWISE_HOME": str(home),
        "DRIFTWISE_DATABASE_URL": pg_engine.url.render_as_string(hide_password=False),
    }
    command = [sys.executable, "-m", "driftwise", "backfill", str(spec),
               "--start", str(DAYS[0]), "--end", str(DAYS[-1])]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1_500)
    with pg_engine.connect() as connection:
        runs = connection.execute(select(Run.window_start, Run.row_count)).all()
        firing = connection.execute(
            select(PolicyEvaluation.window_start, PolicyEvaluation.rule).where(
                PolicyEvaluation.firing, PolicyEvaluation.rule != ""
            )
        ).all()
        payload_metrics = len(
            connection.execute(select(MetricRow.metric).where(MetricRow.column_name == PAYLOAD))
            .scalars()
            .all()
        )
        details = connection.execute(
            select(MetricRow.details).where(MetricRow.column_name == "region")
        ).scalars()
        nul_kept = any("north" in str(d) and "east" in str(d) for d in details)
    _truncate(pg_engine)
    return Backfilled(
        exit_code=done.returncode,
        output=done.stdout + done.stderr,
        rows={start: count for start, count in runs},
        firing={(start, rule) for start, rule in firing},
        payload_metrics=payload_metrics,
        nul_kept=nul_kept,
        reports=sorted(home.rglob("*.html")),
    )


def start_of(day: date) -> datetime:
    return window_starting_on(day, timedelta(days=1), ZONE).start


def test_a_hostile_backfill_stores_every_day_and_fires_on_the_empty_one(
    backfilled: Backfilled,
) -> None:
    assert backfilled.exit_code == 0, backfilled.output[-3_000:]
    assert backfilled.rows == {start_of(d): 0 if d == EMPTY else ROWS for d in DAYS}
    assert backfilled.firing == {
        (start_of(EMPTY), "feed-stopped"),
        (start_of(EMPTY), "data-missing"),
    }
    assert backfilled.payload_metrics > 10  # the payload column is profiled, checked, tested
    assert backfilled.nul_kept
    pages = [page for page in backfilled.reports if page.name != "timeseries.html"]
    assert len(pages) == len(DAYS) - 1  # a report per non-empty day, beside the history page


def test_a_hostile_backfill_saves_no_runnable_script(backfilled: Backfilled) -> None:
    assert backfilled.reports
    for page in backfilled.reports:
        text = page.read_text(encoding="utf-8")
        raw = PAYLOAD in text  # (not asserted on the text itself: pytest would diff 4 MB)
        assert not raw, f"{page.name} holds the payload raw"
        assert injected_scripts(text) == [], page.name
        assert shows_as_text(text), f"{page.name} does not show the payload"
