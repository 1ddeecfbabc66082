from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine

from monitoring_lib.io.loading import (
    check_sources,
    iter_window_chunks,
    load_reference,
    load_window,
    scoring_columns,
)
from monitoring_lib.io.sources import SourceError, count_rows, window_filter
from monitoring_lib.spec.monitor import MonitorSpec, parse_spec
from monitoring_lib.spec.sources import FileSource
from monitoring_lib.windows import window_starting_on

BERLIN = "Europe/Berlin"
DAY = timedelta(days=1)


def hourly_log(first: str, last: str, zone: str | None) -> pd.DataFrame:
    """One prediction per hour between two local times (naive when zone is None)."""
    stamps = pd.date_range(first, last, freq="h", tz=zone, inclusive="left")
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "ts": stamps,
            "id": np.arange(len(stamps)),
            "income": rng.normal(50, 10, len(stamps)),
            "region": rng.choice(["north", "south"], len(stamps)),
            "pred": rng.integers(0, 2, len(stamps)),
        }
    )


def make_spec(folder: Path, **overrides: Any) -> MonitorSpec:
    data: dict[str, Any] = {
        "name": "m",
        "task": "binary",
        "window": {"timezone": BERLIN},
        "sources": {
            "predictions": {"path": "preds/*.parquet"},
            "reference": {"path": "reference.parquet"},
            "labels": {"path": "labels.csv"},
        },
        "columns": {
            "timestamp": "ts",
            "id": "id",
            "numerical": ["income"],
            "categorical": ["region"],
            "prediction": "pred",
            "target": "y",
            "label_timestamp": "labelled_at",
        },
    }
    data.update(overrides)
    return parse_spec(data, base_dir=folder)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Two parquet files of hourly predictions around the October DST change, in UTC."""
    log = hourly_log("2024-10-25 22:00", "2024-10-29 00:00", "UTC")
    (tmp_path / "preds").mkdir()
    log.iloc[:40].to_parquet(tmp_path / "preds" / "part-1.parquet")
    log.iloc[40:].to_parquet(tmp_path / "preds" / "part-2.parquet")
    log.drop(columns=["ts", "id"]).to_parquet(tmp_path / "reference.parquet")
    labels = pd.DataFrame(
        {
            "id": log["id"][::2],
            "y": 1,
            "labelled_at": log["ts"][::2] + pd.Timedelta(days=2),
        }
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)
    return tmp_path


def test_window_holds_exactly_the_local_day_across_dst(project: Path) -> None:
    spec = make_spec(project)
    window = window_starting_on(date(2024, 10, 27), DAY, BERLIN)
    data = load_window(spec, window)
    assert len(data.frame) == 25  # the day clocks go back has 25 hours
    stamps = data.frame["ts"]
    assert stamps.min() == pd.Timestamp(window.start)
    assert stamps.max() == pd.Timestamp(window.end) - pd.Timedelta(hours=1)
    assert str(stamps.dt.tz) == "UTC"


@pytest.mark.parametrize("day", [date(2024, 3, 31), date(2024, 10, 27)])
def test_naive_timestamps_are_read_in_the_configured_zone(tmp_path: Path, day: date) -> None:
    log = hourly_log(f"{day - DAY} 00:00", f"{day + 2 * DAY} 00:00", None)  # naive wall clock
    (tmp_path / "preds").mkdir()
    log.to_parquet(tmp_path / "preds" / "log.parquet")
    log.to_parquet(tmp_path / "reference.parquet")
    spec = make_spec(
        tmp_path,
        window={"timezone": BERLIN, "naive_timestamps_in": BERLIN},
        sources={
            "predictions": {"path": "preds/*.parquet"},
            "reference": {"path": "reference.parquet"},
        },
        columns={"timestamp": "ts", "id": "id", "numerical": ["income"], "prediction": "pred"},
    )
    data = load_window(spec, window_starting_on(day, DAY, BERLIN))
    # Every wall-clock row of the local day is kept, none dropped at the DST change.
    assert len(data.frame) == 24
    assert set(data.frame["ts"].dt.tz_convert(BERLIN).dt.date) == {day}


def test_csv_and_parquet_give_the_same_window(project: Path) -> None:
    spec = make_spec(project)
    log = pd.concat([pd.read_parquet(p) for p in sorted((project / "preds").glob("*.parquet"))])
    (project / "csv").mkdir()
    log.to_csv(project / "csv" / "log.csv", index=False)
    csv_spec = make_spec(
        project,
        sources={**spec.model_dump()["sources"], "predictions": {"path": "csv/log.csv"}},
    )
    window = window_starting_on(date(2024, 10, 27), DAY, BERLIN)
    from_parquet = load_window(spec, window).frame
    from_csv = load_window(csv_spec, window).frame
    pd.testing.assert_frame_equal(
        from_parquet.reset_index(drop=True), from_csv.reset_index(drop=True), check_dtype=False
    )


def test_a_nul_byte_in_a_csv_value_keeps_the_whole_value(project: Path) -> None:
    spec = make_spec(project)
    files = sorted((project / "preds").glob("*.parquet"))
    log = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    log["region"] = log["region"].astype(object)
    in_window = log["ts"].dt.tz_convert(BERLIN).dt.date == date(2024, 10, 27)
    log.loc[in_window.to_numpy().nonzero()[0][3], "region"] = "no\x00rth east"
    (project / "csv").mkdir()
    log.to_csv(project / "csv" / "log.csv", index=False)
    csv_spec = make_spec(
        project,
        sources={**spec.model_dump()["sources"], "predictions": {"path": "csv/log.csv"}},
    )
    window = window_starting_on(date(2024, 10, 27), DAY, BERLIN)
    frame = load_window(csv_spec, window).frame
    assert "no\x00rth east" in set(frame["region"])
    assert len(frame) == len(load_window(spec, window).frame)


def test_labels_partially_present_by_arrival_time(project: Path) -> None:
    spec = make_spec(project)
    window = window_starting_on(date(2024, 10, 26), DAY, BERLIN)
    everything = load_window(spec, window)
    assert everything.labelled_rows == 12  # every other row has a label at all
    assert everything.label_coverage == pytest.approx(0.5)
    as_of = window.end + timedelta(days=1, hours=12)
    partial = load_window(spec, window, as_of=as_of)
    assert 0 < partial.labelled_rows < everything.labelled_rows
    labelled = partial.frame.loc[partial.frame["y"].notna(), "ts"]
    assert (labelled + pd.Timedelta(days=2) <= pd.Timestamp(as_of)).all()
    assert len(partial.frame) == len(everything.frame)


def test_empty_window_is_an_explicit_empty_result(project: Path) -> None:
    spec = make_spec(project)
    data = load_window(spec, window_starting_on(date(2025, 1, 1), DAY, BERLIN))
    assert data.is_empty
    assert data.label_coverage is None
    assert {"ts", "id", "income", "pred"} <= set(data.frame.columns)


def test_chunks_concatenate_to_the_window(project: Path) -> None:
    spec = make_spec(project)
    window = window_starting_on(date(2024, 10, 27), DAY, BERLIN)
    chunks = list(iter_window_chunks(spec, window, chunk_rows=7))
    assert max(len(c) for c in chunks) <= 7
    assert sum(len(c) for c in chunks) == len(load_window(spec, window).frame)


def test_missing_feature_column_is_reported_not_fatal(project: Path) -> None:
    spec = make_spec(
        project,
        columns={
            "timestamp": "ts",
            "id": "id",
            "numerical": ["income", "savings"],
            "prediction": "pred",
            "target": "y",
        },
    )
    data = load_window(spec, window_starting_on(date(2024, 10, 27), DAY, BERLIN))
    assert data.missing_columns == ("savings",)
    assert len(data.frame) == 25


def test_missing_files_are_named(project: Path) -> None:
    spec = make_spec(
        project,
        sources={
            "predictions": {"path": "nowhere/*.parquet"},
            "reference": {"path": "reference.parquet"},
        },
    )
    with pytest.raises(
        SourceError, match=r"predictions source: no file matches 'nowhere/\*\.parquet'"
    ):
        load_window(spec, window_starting_on(date(2024, 10, 27), DAY, BERLIN))


def test_labels_without_target_column_are_named(project: Path) -> None:
    pd.DataFrame({"id": [1], "outcome": [1]}).to_csv(project / "labels.csv", index=False)
    spec = make_spec(project)
    with pytest.raises(SourceError, match=r"labels source .*labels\.csv: no column 'y'"):
        load_window(spec, window_starting_on(date(2024, 10, 27), DAY, BERLIN))


def test_unparseable_timestamps_name_the_column(tmp_path: Path) -> None:
    (tmp_path / "preds").mkdir()
    pd.DataFrame({"ts": ["yesterday"], "id": [1], "income": [1.0], "pred": [0]}).to_csv(
        tmp_path / "preds" / "log.csv", index=False
    )
    spec = make_spec(
        tmp_path, sources={"predictions": {"path": "preds/*.csv"}, "reference": {"path": "r.csv"}}
    )
    with pytest.raises(
        SourceError, match="predictions column 'ts': values could not be read as timestamps"
    ):
        load_window(spec, window_starting_on(date(2024, 1, 1), DAY, "UTC"))


def test_reference_is_loaded_with_features(project: Path) -> None:
    reference = load_reference(make_spec(project))
    assert {"income", "region", "pred"} <= set(reference.columns)


def test_check_sources_names_every_missing_column(project: Path) -> None:
    spec = make_spec(
        project,
        columns={
            "timestamp": "ts",
            "id": "id",
            "numerical": ["income", "savings"],
            "categorical": ["region"],
            "prediction": "pred",
            "target": "y",
            "label_timestamp": "arrived",
        },
    )
    problems = check_sources(spec)
    assert any(
        "predictions source" in p and "'savings' (columns.numerical[1])" in p for p in problems
    )
    assert any("reference source" in p and "'savings'" in p for p in problems)
    assert any(
        "labels source" in p and "'arrived' (columns.label_timestamp)" in p for p in problems
    )
    assert check_sources(make_spec(project)) == []


def test_sql_source_reads_only_the_window(tmp_path: Path) -> None:
    log = hourly_log("2024-06-01 00:00", "2024-06-04 00:00", "UTC")
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    engine = create_engine(url)
    log.assign(ts=log["ts"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_sql("preds", engine, index=False)
    engine.dispose()
    query = "SELECT * FROM preds WHERE ts >= :start AND ts < :end"
    spec = make_spec(
        tmp_path,
        window={"timezone": "UTC"},
        sources={
            "predictions": {"query": query, "url": url},
            "reference": {"query": "SELECT * FROM preds", "url": url},
        },
        columns={"timestamp": "ts", "id": "id", "numerical": ["income"], "prediction": "pred"},
    )
    data = load_window(spec, window_starting_on(date(2024, 6, 2), DAY, "UTC"))
    assert len(data.frame) == 24
    assert data.frame["ts"].min() == pd.Timestamp(datetime(2024, 6, 2, tzinfo=UTC))
    assert check_sources(spec) == []
    # The query's other columns are not read into the window but are seen by the schema check.
    assert set(data.source_columns) == {"ts", "id", "income", "region", "pred"}
    assert "region" not in data.frame.columns


def test_sql_errors_hide_the_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg2://u:hunter2@127.0.0.1:1/nothing"
    spec = make_spec(
        tmp_path,
        sources={
            "predictions": {"query": "SELECT 1", "url": url},
            "reference": {"query": "SELECT 1", "url": url},
        },
        columns={"timestamp": "ts", "id": "id", "numerical": ["income"], "prediction": "pred"},
    )
    with pytest.raises(SourceError) as caught:
        load_window(spec, window_starting_on(date(2024, 6, 2), DAY, "UTC"))
    assert "hunter2" not in str(caught.value)
    assert "***" in str(caught.value)


def test_scoring_columns_skip_the_features_and_keep_the_labels(project: Path) -> None:
    spec = make_spec(project)
    window = window_starting_on(date(2024, 10, 26), DAY, BERLIN)
    everything = load_window(spec, window)
    scoring = load_window(spec, window, columns=scoring_columns(spec))
    assert not set(spec.columns.features) & set(scoring.frame.columns)
    assert scoring.missing_columns == ()
    assert scoring.labelled_rows == everything.labelled_rows == 12
    shared = list(scoring.frame.columns)
    pd.testing.assert_frame_equal(scoring.frame, everything.frame[shared])


def test_row_counts_match_the_loaded_window_for_parquet_and_csv(project: Path) -> None:
    spec = make_spec(project)
    window = window_starting_on(date(2024, 10, 27), DAY, BERLIN)
    expected = len(load_window(spec, window).frame)
    log = pd.concat([pd.read_parquet(p) for p in sorted((project / "preds").glob("*.parquet"))])
    (project / "csv").mkdir()
    log.to_csv(project / "csv" / "log.csv", index=False)
    for source in (spec.sources.predictions, FileSource(path="csv/log.csv")):
        counted = count_rows(
            source, project, "predictions", columns=["ts"], time_filter=window_filter(spec, window)
        )
        assert counted == expected == 25  # 27 October 2024 in Berlin lasts 25 hours
