"""Case 29: a `</script>` payload as a category value and as a column name renders as text in
every HTML file a window saves; none of them runs it."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from monitoring_lib import demo_data
from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.spec.monitor import parse_spec
from monitoring_lib.windows import window_starting_on
from tests.credit_world import ZONE, credit_spec, write_project
from tests.html_safety import PAYLOAD, injected_scripts, shows_as_text

DAY = date(2024, 5, 1)
RENAMED = "region"
"""The categorical column whose name becomes the payload."""


def hostile(frame: pd.DataFrame) -> pd.DataFrame:
    """The payload as a column's name and as a value of another column."""
    purpose = np.where(np.arange(len(frame)) % 4 == 0, PAYLOAD, frame["loan_purpose"])
    return frame.assign(loan_purpose=purpose).rename(columns={RENAMED: PAYLOAD})


def test_a_script_payload_renders_as_text_in_every_saved_html_file(tmp_path: Path) -> None:
    folder = write_project(tmp_path, [(DAY, demo_data.STATIONARY)], rows=400, reference_rows=2_000)
    for name in ("log.parquet", "reference.parquet"):
        hostile(pd.read_parquet(folder / name)).to_parquet(folder / name)
    data = credit_spec(folder).model_dump(mode="json", exclude={"base_dir"})
    data["window"]["length"] = "1d"
    data["columns"]["categorical"] = ["employment_type", PAYLOAD, "loan_purpose"]
    data["columns"]["segments"] = []
    spec = parse_spec(data, base_dir=folder)
    window = window_starting_on(DAY, timedelta(days=1), ZONE)
    evaluation = evaluate_window(
        spec, load_window(spec, window), load_reference(spec), artifacts=tmp_path / "artifacts"
    )
    assert evaluation.report_path is not None

    pages = sorted((tmp_path / "artifacts").rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        raw = PAYLOAD in text  # (not asserted on the 4 MB text itself: pytest would diff it)
        assert not raw, f"{page.name} holds the payload raw"
        assert injected_scripts(text) == [], page.name
        assert shows_as_text(text), f"{page.name} does not show the payload"
