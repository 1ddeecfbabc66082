"""Evidently's HTML report is written from bounded samples and says how many rows it used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring_lib.metrics.reports import write_drift_report


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
