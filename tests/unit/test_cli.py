from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from driftwise.cli import app

runner = CliRunner()


def write_project(folder: Path, *, numerical: list[str]) -> Path:
    frame = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC"),
            "id": range(4),
            "income": [1.0, 2.0, 3.0, 4.0],
            "pred": [0, 1, 0, 1],
        }
    )
    frame.to_parquet(folder / "log.parquet")
    frame.to_parquet(folder / "reference.parquet")
    spec = {
        "name": "cli-model",
        "task": "binary",
        "sources": {
            "predictions": {"path": "log.parquet"},
            "reference": {"path": "reference.parquet"},
        },
        "columns": {"timestamp": "ts", "id": "id", "numerical": numerical, "prediction": "pred"},
    }
    path = folder / "model.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("validate", "db", "version"):
        assert command in result.output


def test_validate_accepts_a_good_spec(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(write_project(tmp_path, numerical=["income"]))])
    assert result.exit_code == 0, result.output
    assert "cli-model (binary) is valid" in result.output


def test_validate_names_a_missing_column(tmp_path: Path) -> None:
    spec = write_project(tmp_path, numerical=["income", "savings"])
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 1
    assert "no column 'savings' (columns.numerical[1])" in result.output


def test_validate_reports_spec_mistakes_with_the_file(tmp_path: Path) -> None:
    spec = write_project(tmp_path, numerical=["income"])
    data = yaml.safe_load(spec.read_text())
    data["window"] = {"timezone": "Nowhere/Land"}
    spec.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 1
    assert f"{spec}: window.timezone: 'Nowhere/Land' is not a known IANA time zone" in result.output


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_db_upgrade_and_current(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'cli.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("fresh_pg_url").render_as_string(hide_password=False)
    )
    before = runner.invoke(app, ["db", "current", "--url", url])
    assert before.exit_code == 1
    if backend == "sqlite":  # not created by asking
        assert "no metric store here yet; `driftwise db upgrade` creates it" in before.output
        assert not (tmp_path / "cli.db").exists()
    else:
        assert "run `driftwise db upgrade`" in before.output
    upgraded = runner.invoke(app, ["db", "upgrade", "--url", url])
    assert upgraded.exit_code == 0, upgraded.output
    after = runner.invoke(app, ["db", "current", "--url", url])
    assert after.exit_code == 0
    assert "up to date" in after.output


def test_db_upgrade_defaults_to_the_sqlite_file_under_home(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".driftwise" / "driftwise.db").is_file()


def test_db_current_in_an_empty_folder_creates_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "current"], terminal_width=200)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"{tmp_path / '.driftwise' / 'driftwise.db'}: no metric store here yet; "
        "`driftwise db upgrade` creates it"
    )
    assert not (tmp_path / ".driftwise").exists()


def test_validate_names_a_column_missing_from_many_files_once(tmp_path: Path) -> None:
    spec = write_project(tmp_path, numerical=["income", "savings"])
    log = pd.read_parquet(tmp_path / "log.parquet")
    (tmp_path / "log.parquet").unlink()
    for day in range(5):
        log.to_parquet(tmp_path / f"log-{day}.parquet")
    data = yaml.safe_load(spec.read_text())
    data["sources"]["predictions"]["path"] = "log-*.parquet"
    spec.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["validate", str(spec)], terminal_width=300)
    assert result.exit_code == 1
    predictions = [line for line in result.output.splitlines() if "predictions source" in line]
    assert predictions == [
        f"✗ {spec}: predictions source 5 of its 5 files (e.g. {tmp_path / 'log-0.parquet'}): "
        "no column 'savings' (columns.numerical[1]); it has ['ts', 'id', 'income', 'pred']"
    ]


def test_backfill_has_the_switches_of_its_form_and_dates_read_yyyy_mm_dd() -> None:
    result = runner.invoke(app, ["backfill", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for switch in ("--reports", "--no-reports", "--alerts", "--actions", "--verbose"):
        assert switch in result.output
    assert "YYYY-MM-DD" in result.output
    assert "%Y" not in result.output


def test_the_demo_prints_reasons_as_text_with_their_severity(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from driftwise.cli_demo import print_demo
    from driftwise.output import console

    day = {
        "window": "2024-03-12", "world": "changed", "label_coverage": 0.4, "drift_share": 0.375,
        "quality": {"accuracy": 0.69, "roc_auc": 0.62}, "decision": "retrain", "champion": 1,
        "reasons": [
            "[high] accuracy-drop: quality.accuracy is 0.69, below 0.81 -> retrain",
            "retraining: rejected: challenger quality.roc_auc 0.7661 vs champion 0.7795: "
            "-0.01338 < margin 0.01, not better by the margin",
        ],
    }  # fmt: skip
    incident = {
        **day, "window": "2024-03-09", "world": "incident", "drift_share": 0.0,
        "decision": "none", "reasons": [],
        "signals": {"multivariate": {"value": 4.1, "error_ratio": 1.01, "status": "ok"}},
        "service_figures": {
            "error_share": 0.052, "latency_p95": 548.4,
            "slos": {"availability": {"budget_remaining": -0.29}, "fast": {"budget_remaining": 0.78}},
        },
    }  # fmt: skip
    run = SimpleNamespace(
        days=[incident, day], store="sqlite://", artifacts=tmp_path,
        world=SimpleNamespace(
            spec_path=tmp_path / "s.yaml", flip_days=range(0), incident_days=range(0, 1)
        ),
    )  # fmt: skip
    with console.capture() as captured:
        print_demo(run)
    text = captured.get()
    assert "2024-03-12: [high] accuracy-drop: quality.accuracy is 0.69" in text
    assert "-0.01338 < margin 0.01" in text.replace("\n", " ")
    incident_row = next(line for line in text.splitlines() if "5.2%" in line)
    assert incident_row.split()[:2] == ["2024-03-09", "incident"]
    assert incident_row.split()[-6:] == ["1.01x", "5.2%", "548", "-29%", "/", "78%"]
