"""Saved HTML holds hostile names and values as text: no script of theirs can run (issue: a
category value ``</script><script>alert(1)</script>`` reached Evidently's page raw)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from monitoring_lib.metrics.report_page import ASSET_FOLDER, LIBRARY, set_verdict
from monitoring_lib.metrics.reports import write_drift_report
from monitoring_lib.pages.html import script_json
from monitoring_lib.pages.verdict import Verdict, banner
from tests.unit.html_checks import PAYLOAD, injected_scripts, script_elements


def _hostile(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            PAYLOAD: rng.normal(size=rows),
            "c": rng.choice(["a", PAYLOAD, "<!--", "b&amp;"], rows),
        }
    )


def test_the_checker_finds_a_script_a_raw_payload_starts() -> None:
    unsafe = f"<html><head><script>var data = {json.dumps([PAYLOAD])};</script></head></html>"
    assert injected_scripts(unsafe) == ["alert(1)"]


def test_hostile_names_and_values_stay_data_in_the_report(tmp_path: Path) -> None:
    info = write_drift_report(
        _hostile(300, 0), _hostile(200, 1), numerical=["x", PAYLOAD], categorical=["c"],
        path=tmp_path / "reports" / "2024-03-01.html", title=f"model {PAYLOAD}",
    )  # fmt: skip
    page = info.path.read_text(encoding="utf-8")
    scripts = script_elements(page)
    assert injected_scripts(page) == []
    assert len(scripts) == 4  # the data, 'global', the bundle, the drawing call
    assert scripts[2][0]["src"] == f"{ASSET_FOLDER}/{LIBRARY}"
    data = scripts[0][1]
    assert PAYLOAD not in data
    assert "\\u003c/script\\u003e" in data
    assert (tmp_path / "reports" / ASSET_FOLDER / LIBRARY).stat().st_size > 1_000_000


def test_the_verdict_banner_shows_hostile_text_as_text(tmp_path: Path) -> None:
    info = write_drift_report(
        _hostile(300, 0), _hostile(200, 1), numerical=["x"], categorical=["c"],
        path=tmp_path / "r.html",
    )  # fmt: skip
    verdict = Verdict(
        model=PAYLOAD, window="2024-03-01", status="red", decision="alert", drift_share=0.375,
        drifted_columns=[PAYLOAD], reasons=[f"dataset-drift: {PAYLOAD} 0.375 > 0.3"],
        links=[("history", 'x" onmouseover="alert(1)')],
    )  # fmt: skip
    assert set_verdict(info.path, banner(verdict))
    page = info.path.read_text(encoding="utf-8")
    assert injected_scripts(page) == []
    assert len(script_elements(page)) == 4
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'onmouseover="' not in page
    assert "driftwise: RED" in page
    # a later run replaces the banner instead of stacking a second one
    assert set_verdict(info.path, banner(verdict))
    assert info.path.read_text(encoding="utf-8").count('id="driftwise-verdict"') == 1


def test_script_json_evaluates_to_the_same_value() -> None:
    value = {PAYLOAD: [PAYLOAD, "a&b", "\u2028", "<!--"]}
    encoded = script_json(value)
    assert "<" not in encoded
    assert ">" not in encoded
    assert "&" not in encoded
    assert json.loads(encoded) == value
