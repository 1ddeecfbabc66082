"""The report and the history page, opened in headless Chromium over `driftwise ui`'s server:
they render with their data, log nothing to the console, and hostile names stay text."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring_lib.metrics.report_page import set_verdict
from monitoring_lib.metrics.reports import write_drift_report
from monitoring_lib.pages.html import write_atomically
from monitoring_lib.pages.server import pages_server
from monitoring_lib.pages.timeseries import (
    ColumnDrift,
    Event,
    ModelHistory,
    Series,
    WindowPoint,
    history_page,
)
from monitoring_lib.pages.verdict import Verdict, banner
from tests.browser import render
from tests.unit.html_checks import PAYLOAD

LOGGING_PAYLOAD = "</script><script>console.log('INJECTED')</script>"
"""Like PAYLOAD, but a script it started would show in the console log."""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "artifacts"
    root.mkdir()
    httpd = pages_server(root, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=30)


def _hostile(rows: int, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "income": rng.normal(shift, 1, rows),
            LOGGING_PAYLOAD: rng.normal(size=rows),
            "region": rng.choice(["north", PAYLOAD, LOGGING_PAYLOAD], rows),
        }
    )


def test_a_hostile_report_renders_with_its_names_as_text(served: tuple[Path, str]) -> None:
    root, base = served
    path = root / "m-1" / "reports" / "2024-03-01.html"
    write_drift_report(
        _hostile(400, 0, 0.0),
        _hostile(300, 1, 1.0),
        numerical=["income", LOGGING_PAYLOAD],
        categorical=["region"],
        path=path,
        title="m 2024-03-01",
    )
    verdict = Verdict(
        "m",
        "2024-03-01",
        "red",
        "alert",
        0.5,
        ["income", LOGGING_PAYLOAD],
        reasons=[f"dataset-drift: drift.share 0.5 > 0.3 ({PAYLOAD})"],
    )
    assert set_verdict(path, banner(verdict))
    page = render(f"{base}/m-1/reports/2024-03-01.html")
    assert page.console == []  # no error, and no injected script ran
    assert "driftwise: RED" in page.dom
    assert "Dataset Drift" in page.dom or "Drifted Columns" in page.dom  # Evidently drew
    assert "income" in page.dom
    assert "console.log('INJECTED')" in page.dom  # shown as text by Evidently's widgets
    assert "<script>console.log('INJECTED')" not in page.dom  # no such element


def _history() -> ModelHistory:
    labels = [f"2024-03-{day:02d}" for day in range(1, 11)]
    shares = [0.0] * 6 + [0.375, 0.4, 0.1, 0.0]
    status = ["green"] * 6 + ["amber", "red", "green", "green"]
    decision = ["none"] * 6 + ["alert", "retrain", "none", "none"]
    windows = [
        WindowPoint(
            label,
            s,
            1_500 + i * 10,
            share,
            d,
            [f"rule {PAYLOAD}"] if d != "none" else [],
            report_href=f"{label}.html",
        )
        for i, (label, s, share, d) in enumerate(zip(labels, status, shares, decision, strict=True))
    ]
    accuracy = [0.88, 0.87, 0.89, 0.88, 0.86, 0.88, 0.74, 0.71, 0.79, 0.8]
    return ModelHistory(
        model=f"credit {PAYLOAD}",
        generated_at="2024-03-11 00:00 UTC",
        windows=windows,
        columns=[
            ColumnDrift("income", [0.01] * 6 + [0.3] * 4, [False] * 6 + [True] * 4),
            ColumnDrift(LOGGING_PAYLOAD, [0.02] * 10, [False] * 10),
        ],
        quality=[
            Series(
                "quality.accuracy",
                accuracy,
                [a - 0.03 for a in accuracy],
                [a + 0.03 for a in accuracy],
            )
        ],
        events=[Event(7, "retrain", "rejected", f"+0.0091 < margin 0.01 {PAYLOAD}")],
        drift_share_threshold=0.3,
    )


def test_the_history_page_renders_its_charts(served: tuple[Path, str]) -> None:
    root, base = served
    write_atomically(root / "m-1" / "reports" / "timeseries.html", history_page(_history()))
    page = render(f"{base}/m-1/reports/timeseries.html")
    assert page.console == []
    assert page.dom.count("<svg") == 5  # drift share, columns, accuracy, timeline, rows
    assert page.dom.count('class="point"') == 10
    assert page.dom.count('class="decision"') == 2
    assert page.dom.count('class="event"') == 1
    assert "<script" not in page.dom
    assert "console.log('INJECTED')" in page.dom  # the column name, as text
    assert 'href="2024-03-08.html"' in page.dom
