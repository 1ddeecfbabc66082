"""The history page, generated from the PostgreSQL store by monitor runs and opened in headless
Chromium: it renders each stored window, with no console error."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.pipeline.history import history_path
from monitoring_lib.settings import DriftwiseSettings
from tests.browser import render
from tests.flows.helpers import write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
DAYS = [date(2024, 5, 1) + timedelta(days=i) for i in range(3)]


def test_the_history_page_shows_every_stored_window(tmp_path: Path, pg_store: Engine) -> None:
    spec = write_spec_file(tmp_path, DAYS, changed_from=DAYS[2])
    for day in DAYS:
        monitor_model(
            MonitorParams(spec_path=str(spec), window_date=day, write_report=day == DAYS[2])
        )
    page = history_path(DriftwiseSettings().artifacts, "credit-default")
    rendered = render(page.as_uri())
    assert rendered.console == []
    dom = rendered.dom
    assert "credit-default: 3 windows 2024-05-01 to 2024-05-03" in dom
    assert dom.count('class="point"') == 3  # drift share of each window
    assert "quality.accuracy" in dom
    assert 'href="2024-05-03.html"' in dom  # the one window with a report links it
    assert (page.parent / "2024-05-03.html").is_file()
    assert "<script" not in dom
