from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring_lib.spec.base import Task
from monitoring_lib.spec.monitor import MonitorSpec, SpecError, load_spec, parse_spec, spec_files

EXAMPLES = Path(__file__).resolve().parents[2] / "deployments" / "specs"

BASE: dict[str, Any] = {
    "name": "credit",
    "task": "binary",
    "sources": {"predictions": {"path": "p/*.parquet"}, "reference": {"path": "r.parquet"}},
    "columns": {
        "timestamp": "ts",
        "id": "id",
        "numerical": ["age", "debt", "tenure", "income"],
        "categorical": ["region"],
        "prediction": "pred",
    },
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """BASE with one dotted key replaced (value None deletes the key)."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    if value is None:
        del node[last]
    else:
        node[last] = value
    return data


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(data, source="models/credit.yaml")
    return caught.value.problems


@pytest.mark.parametrize("path", spec_files(EXAMPLES), ids=lambda p: p.name)
def test_example_specs_load(path: Path) -> None:
    spec = load_spec(path)
    assert isinstance(spec, MonitorSpec)
    assert spec.name == yaml.safe_load(path.read_text())["name"]
    assert spec.base_dir == path.parent


def test_example_specs_cover_every_task() -> None:
    tasks = {load_spec(p).task for p in spec_files(EXAMPLES)}
    assert tasks == set(Task)


def test_defaults_are_a_daily_utc_window() -> None:
    spec = parse_spec(BASE)
    assert spec.window.length == timedelta(days=1)
    assert spec.window.timezone == "UTC"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            with_change("columns.categorical", ["income"]),
            "models/credit.yaml: columns.numerical[3]: 'income' is also listed in columns.categorical",
            id="column-in-two-roles",
        ),
        pytest.param(
            with_change("columns.labels", "y"),
            "models/credit.yaml: columns.labels: unknown key; expected one of: timestamp, id,",
            id="unknown-role",
        ),
        pytest.param(
            with_change("sources.reference", None),
            "models/credit.yaml: sources.reference: required key is missing",
            id="missing-source",
        ),
        pytest.param(
            with_change("window.length", "2x"),
            "models/credit.yaml: window.length: '2x' is not a duration like '1d'",
            id="bad-window-unit",
        ),
        pytest.param(
            with_change("window.length", "5h"),
            "models/credit.yaml: window.length: a window shorter than a day must divide 24h evenly",
            id="window-not-dividing-a-day",
        ),
        pytest.param(
            with_change("window.length", "0d"),
            "models/credit.yaml: window.length: must be positive",
            id="zero-window",
        ),
        pytest.param(
            with_change("window.timezone", "Europe/Berln"),
            "models/credit.yaml: window.timezone: 'Europe/Berln' is not a known IANA time zone",
            id="bad-timezone",
        ),
        pytest.param(
            with_change("task", "ranking"),
            "models/credit.yaml: task: Input should be 'binary', 'multiclass' or 'regression'",
            id="bad-task",
        ),
        pytest.param(
            with_change("sources.predictions", {"query": "select 1"}),
            "models/credit.yaml: sources.predictions: give exactly one of 'url' or 'url_env'",
            id="sql-source-without-url",
        ),
        pytest.param(
            with_change("columns.segments", ["age"]),
            "models/credit.yaml: columns.segments[0]: 'age' must also be listed in columns.categorical",
            id="numeric-segment",
        ),
        pytest.param(
            with_change("sources.labels", {"path": "labels.csv"}),
            "models/credit.yaml: columns.target: a labels source is given, so name the target column",
            id="labels-without-target",
        ),
    ],
)
def test_each_mistake_has_its_own_message(data: dict[str, Any], expected: str) -> None:
    problems = problems_of(data)
    assert any(p.startswith(expected) for p in problems), problems


def test_all_problems_are_reported_at_once() -> None:
    data = with_change("window", {"length": "2x", "timezone": "Mars/Olympus"})
    problems = problems_of(data)
    assert len(problems) == 2
    assert {p.split(": ")[1] for p in problems} == {"window.length", "window.timezone"}


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"broken\.yaml: not valid YAML"):
        load_spec(broken)
    with pytest.raises(SpecError, match=r"absent\.yaml: no such spec file"):
        load_spec(tmp_path / "absent.yaml")


def test_sql_url_is_kept_secret() -> None:
    secret = "postgresql://u:hunter2@db/warehouse"
    data = with_change("sources.predictions", {"query": "select 1", "url": secret})
    spec = parse_spec(data)
    assert "hunter2" not in repr(spec)
    assert "hunter2" not in str(spec.model_dump())


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        ({"method": "kss"}, "models/credit.yaml: drift.method: Input should be 'auto', 'ks'"),
        (
            {"per_column": {"age": {"threshold": -1}}},
            "models/credit.yaml: drift.per_column.age.threshold: Input should be greater than 0",
        ),
        (
            {"per_column": {"salary": {"method": "psi"}}},
            "models/credit.yaml: drift.per_column.salary: 'salary' is not a monitored column",
        ),
        (
            {"fdr": 0.1},
            "models/credit.yaml: drift.fdr: unknown key; expected one of: method, threshold, per_column",
        ),
    ],
)
def test_drift_settings_are_checked_on_load(drift: dict[str, Any], expected: str) -> None:
    problems = problems_of(with_change("drift", drift))
    assert any(p.startswith(expected) for p in problems), problems


def test_drift_settings_reach_the_spec() -> None:
    spec = parse_spec(
        with_change("drift", {"method": "psi", "per_column": {"age": {"method": "ks"}}})
    )
    assert spec.drift.method == "psi"
    assert spec.drift.method_for("age") == "ks"


def test_the_readme_spec_example_is_a_valid_spec() -> None:
    """The spec users copy from the README must parse, every optional section included."""
    import re

    import yaml

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    found = re.search(r"## The monitor spec.*?```yaml\n(.*?)```", readme, re.S)
    assert found is not None
    spec = parse_spec(yaml.safe_load(found.group(1)), source="README.md")
    assert spec.memory.max_cells_in_memory == 20_000_000
    assert spec.actions.retrain is not None
    assert spec.alerts.channels


def test_policy_retrain_cooldown_is_a_deprecated_alias_of_the_retrain_cooldown() -> None:
    retrain = {"trainer": "monitoring_lib.example_trainer:train", "metric": "quality.roc_auc"}
    base = {**BASE, "columns": {**BASE["columns"], "probability": "proba"}}
    with pytest.warns(FutureWarning, match=r"policy.retrain_cooldown is deprecated: write actions"):
        spec = parse_spec(
            {**base, "policy": {"retrain_cooldown": "3d"}, "actions": {"retrain": retrain}}
        )
    assert spec.actions.retrain is not None
    assert spec.actions.retrain.cooldown == spec.policy.retrain_cooldown == timedelta(days=3)

    canonical = {"retrain": {**retrain, "cooldown": "5d"}}
    spec = parse_spec({**base, "actions": canonical})  # the policy's decisions follow it
    assert spec.policy.retrain_cooldown == timedelta(days=5)

    with pytest.warns(FutureWarning), pytest.raises(SpecError, match="disagree: keep only actions"):
        parse_spec({**base, "policy": {"retrain_cooldown": "3d"}, "actions": canonical})
