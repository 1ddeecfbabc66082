"""A log whose columns change under the monitor (case 20): a missing, an extra, a renamed and a
retyped column are recorded from the source's own header or schema, and every other column is
still evaluated, whether the window is loaded whole or read in chunks, from CSV or parquet."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from monitoring_lib import demo_data
from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.io.sources import iter_source
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.stages import WindowEvaluation
from monitoring_lib.pipeline.streamed import evaluate_window_streamed
from monitoring_lib.records import Metric, MetricStatus
from monitoring_lib.spec.monitor import MonitorSpec, parse_spec
from monitoring_lib.windows import window_starting_on
from tests.credit_world import ZONE, credit_spec, write_project

BEFORE, AFTER = date(2024, 5, 1), date(2024, 5, 2)
KEPT = ["loan_amount", "debt_to_income", "credit_history_months"]


def changed(frame: pd.DataFrame) -> pd.DataFrame:
    """The second day's log: 'income' renamed, 'age' written as text, 'region' dropped and an
    unknown 'session_note' added."""
    return (
        frame.rename(columns={"income": "income_eur"})
        .assign(age=lambda df: df["age"].map(lambda years: f"{years} years"), session_note="n/a")
        .drop(columns=["region"])
    )


def project(folder: Path, kind: str) -> MonitorSpec:
    days = [(BEFORE, demo_data.STATIONARY), (AFTER, demo_data.STATIONARY)]
    write_project(folder, days, rows=600, reference_rows=3_000)
    log = pd.read_parquet(folder / "log.parquet")
    local_day = log["scored_at"].dt.tz_convert(ZONE).dt.date
    for day, part in (
        (BEFORE, log[local_day == BEFORE]),
        (AFTER, changed(log[local_day == AFTER])),
    ):
        if kind == "csv":
            part.to_csv(folder / f"log_{day}.csv", index=False)
        else:
            part.to_parquet(folder / f"log_{day}.parquet", index=False)
    (folder / "log.parquet").unlink()
    data = credit_spec(folder).model_dump(mode="json", exclude={"base_dir"})
    data["sources"]["predictions"] = {"path": f"log_*.{kind}"}
    data["columns"]["segments"] = []
    data["window"]["length"] = "1d"
    return parse_spec(data, base_dir=folder)


def evaluate(spec: MonitorSpec, day: date, artifacts: Path, streamed: bool) -> WindowEvaluation:
    window = window_starting_on(day, timedelta(days=1), ZONE)
    if streamed:
        return evaluate_window_streamed(spec, window, artifacts=artifacts, write_report=False)
    data = load_window(spec, window)
    return evaluate_window(
        spec, data, load_reference(spec), artifacts=artifacts, write_report=False
    )


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "chunks"])
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_changed_columns_are_recorded_and_the_rest_evaluated(
    tmp_path: Path, kind: str, streamed: bool
) -> None:
    spec = project(tmp_path, kind)
    records = evaluate(spec, AFTER, tmp_path / "artifacts", streamed).by_key()

    extra = records[(Metric.SCHEMA_EXTRA_COLUMN, "", "")]
    assert (extra.value, extra.status) == (2, MetricStatus.WARNING)
    assert extra.details["columns"] == ["income_eur", "session_note"]
    renamed = records[(Metric.SCHEMA_MISSING_COLUMN, "income", "")]
    assert renamed.status is MetricStatus.FAILED
    assert "income_eur" in renamed.details["renamed_to"]
    assert records[(Metric.SCHEMA_MISSING_COLUMN, "region", "")].status is MetricStatus.FAILED
    retyped = records[(Metric.SCHEMA_DTYPE_CHANGED, "age", "")]
    assert (retyped.status, retyped.details["observed_kind"]) == (MetricStatus.FAILED, "string")

    for column in KEPT:  # every other feature is still profiled and tested for drift
        drift = records[(Metric.DRIFT_SCORE, column, "")]
        assert drift.value is not None
        assert drift.status in (MetricStatus.OK, MetricStatus.DRIFT)
        assert records[(Metric.PROFILE_MEAN, column, "")].value is not None
    assert records[(Metric.ROW_COUNT, "", "")].value == 600
    assert records[(Metric.ACCURACY, "", "")].value is not None


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_window_before_the_change_sees_only_its_own_files_columns(
    tmp_path: Path, kind: str
) -> None:
    spec = project(tmp_path, kind)
    records = evaluate(spec, BEFORE, tmp_path / "artifacts", streamed=False).by_key()
    extra = records[(Metric.SCHEMA_EXTRA_COLUMN, "", "")]
    assert (extra.value, extra.status) == (0, MetricStatus.OK)
    schema = [r for key, r in records.items() if key[0].startswith("schema.")]
    assert not [r for r in schema if r.status in (MetricStatus.FAILED, MetricStatus.WARNING)]


def test_the_header_names_every_column_of_the_files_that_gave_rows(tmp_path: Path) -> None:
    spec = project(tmp_path, "parquet")
    header: dict[str, str] = {}
    chunks = list(
        iter_source(
            spec.sources.predictions, spec.base_dir, "predictions", columns=["loan_amount"],
            header=header,
        )
    )  # fmt: skip
    assert sum(len(c) for c in chunks) == 1_200
    assert {"income", "income_eur", "session_note", "region"} <= set(header)
    assert header["session_note"] == "object"
