"""Evidently's HTML report is written from bounded samples and says how many rows it used."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.utils import NumpyEncoder

from monitoring_lib.metrics.report_page import _dashboard_data, _widgets, set_verdict
from monitoring_lib.metrics.reports import (
    DEFAULT_SAMPLE_ROWS,
    EvidentlyOptions,
    write_drift_report,
)
from monitoring_lib.pages.html import text
from monitoring_lib.pages.verdict import ReportSample, Verdict, banner
from monitoring_lib.spec.report import ReportSettings


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=rows), "c": rng.choice(["a", "b"], rows)})


@pytest.mark.parametrize(("sample_size", "expected"), [(150, (150, 150)), (10_000, (400, 300))])
def test_report_is_written_from_a_bounded_sample(
    tmp_path: Path, sample_size: int, expected: tuple[int, int]
) -> None:
    info = write_drift_report(
        _frame(400, 0), _frame(300, 1), numerical=["x"], categorical=["c"],
        path=tmp_path / "out" / "drift.html", sample_size=sample_size, seed=3,
    )  # fmt: skip
    assert (info.reference_rows_used, info.current_rows_used) == expected
    html = info.path.read_text(encoding="utf-8")
    assert "<html" in html.lower()
    assert len(html) > 10_000


def test_empty_window_is_refused_with_a_message(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs rows"):
        write_drift_report(
            _frame(10, 0),
            _frame(0, 1),
            numerical=["x"],
            categorical=["c"],
            path=tmp_path / "r.html",
        )


def test_report_says_how_many_rows_of_how_many_it_shows(tmp_path: Path) -> None:
    """A window read in chunks hands over a sample: the page states the sides' whole counts,
    before and after the run's verdict is added."""
    info = write_drift_report(
        _frame(400, 0), _frame(300, 1), numerical=["x"], categorical=["c"],
        path=tmp_path / "drift.html", sample_size=150, seed=3, window_rows=90_000,
    )  # fmt: skip
    assert info.sample == ReportSample(150, 90_000, 150, 400)
    sentence = (
        "a seeded uniform sample of 150 of the window's 90,000 rows and 150 of the reference's 400"
    )
    assert sentence in info.sample.sentence()
    assert "driftwise's verdict is on all rows" in info.sample.sentence()
    assert text(info.sample.sentence()) in info.path.read_text(encoding="utf-8")
    verdict = Verdict("m", "2024-03-01", "green", "none", 0.0, [], sample=info.sample)
    assert set_verdict(info.path, banner(verdict))
    page = info.path.read_text(encoding="utf-8")
    assert page.count(text(info.sample.sentence())) == 1
    assert "driftwise: GREEN" in page


def test_a_small_window_is_shown_whole() -> None:
    sample = ReportSample(300, 300, 400, 400)
    assert sample.sentence() == (
        "Evidently's panels below show all 300 rows of the window and all 400 of the reference."
    )


def test_report_sample_default_is_bounded() -> None:
    assert ReportSettings().sample_rows == DEFAULT_SAMPLE_ROWS == 5_000
    with pytest.raises(ValueError, match="greater than or equal"):
        ReportSettings(sample_rows=10)


def _page_data(snapshot: object) -> str:
    """The page's widgets and graphs, with Evidently's random ids taken out."""
    dashboard, graphs = _dashboard_data(_widgets(snapshot))
    encoded = json.dumps([dashboard, graphs], cls=NumpyEncoder, sort_keys=True)
    return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", encoded)


def test_the_page_only_preset_draws_the_same_page() -> None:
    """The metrics DataDriftPreset computes and its page never shows are left out; the page's
    widgets stay the same."""
    reference, current = _frame(400, 0), _frame(300, 1)
    definition = DataDefinition(numerical_columns=["x"], categorical_columns=["c"])

    def page(page_only: bool) -> str:
        preset = EvidentlyOptions(drift_share=0.3).preset(["x", "c"], page_only=page_only)
        snapshot = Report([preset]).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        return _page_data(snapshot)

    shown = page(page_only=True)
    assert shown == page(page_only=False)
    assert "Drift is detected for" in shown
    assert "DATA DISTRIBUTION" in shown
