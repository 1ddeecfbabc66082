"""A monitor's cron fires once per window; rules watch metric names driftwise stores."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from monitoring_lib.durations import parse_duration
from monitoring_lib.spec.monitor import parse_spec
from monitoring_lib.spec.schedule import cron_problem, default_cron
from tests.unit.test_spec import problems_of, with_change

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("length", "cron"),
    [
        ("1d", "30 0 * * *"),  # daily, half an hour after local midnight
        ("7d", "30 0 * * 1"),  # weekly: Monday 00:30 takes Monday to Sunday
        ("6h", "30 */6 * * *"),
        ("1h", "30 * * * *"),
        ("12h", "30 */12 * * *"),
        ("15m", "7-59/15 * * * *"),
    ],
)
def test_the_default_cron_follows_the_window_length(length: str, cron: str) -> None:
    assert default_cron(parse_duration(length)) == cron
    assert cron_problem(cron, parse_duration(length)) is None
    spec = parse_spec(with_change("window", {"length": length}))
    assert spec.window.cron == cron


def test_a_given_cron_that_fits_is_kept() -> None:
    spec = parse_spec(with_change("window", {"length": "1d", "cron": "30 1 * * *"}))
    assert spec.window.cron == "30 1 * * *"
    assert cron_problem("30 0 * * 0", timedelta(days=7)) is None  # weeks from Sunday


@pytest.mark.parametrize(
    ("length", "cron", "words"),
    [
        ("6h", "30 0 * * *", "runs every 1d, but window.length is 6h: 3 of every 4 windows "
         "would never be computed; use '30 */6 * * *'"),
        ("7d", "30 0 * * *", "runs every 1d, but window.length is 7d: each run would compute a "
         "window overlapping the previous run's; use '30 0 * * 1'"),
        ("6h", "30 */6 * * 1-5", "some windows would be skipped or computed twice"),
        ("1d", "99 1 * * *", "'99 1 * * *' is not a cron expression"),
    ],
)  # fmt: skip
def test_a_cron_that_does_not_fire_once_per_window_is_refused_with_the_fix(
    length: str, cron: str, words: str
) -> None:
    [problem] = problems_of(with_change("window", {"length": length, "cron": cron}))
    assert problem.startswith("models/credit.yaml: window.cron: ")
    assert words in problem


def test_a_length_no_cron_can_schedule_is_refused() -> None:
    [problem] = problems_of(with_change("window", {"length": "3d"}))
    assert "no cron runs once per 3d window" in problem
    assert "use a window.length of 1d, 7d or a divisor of 1d" in problem


def rule(metric: str) -> dict[str, object]:
    return {"name": "r", "metric": metric, "direction": "above", "threshold": 0.3}


def test_a_misspelt_metric_is_refused_with_a_suggestion() -> None:
    [problem] = problems_of(with_change("policy", {"rules": [rule("drift.shares")]}))
    assert problem == (
        "models/credit.yaml: policy.rules[0]: rule 'r': metric: 'drift.shares' is not a metric "
        "driftwise stores; did you mean 'drift.share'?"
    )


def test_a_quality_metric_the_task_does_not_store_is_refused() -> None:
    [problem] = problems_of(with_change("policy", {"rules": [rule("quality.rmse")]}))
    assert "rule 'r': quality.rmse is not stored for a binary model" in problem
    assert "quality.accuracy" in problem


def test_loading_a_spec_imports_no_heavy_library() -> None:
    """`validate --offline` reads the spec only: no scikit-learn, SciPy, Evidently, whylogs,
    pandas or Prefect is imported (seconds of start-up on a small machine)."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from driftwise.cli import app\n"
        "result = CliRunner().invoke(app, ['validate', '--offline', 'deployments/specs'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = ('sklearn', 'scipy', 'evidently', 'whylogs', 'pandas', 'prefect', 'pyarrow')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
