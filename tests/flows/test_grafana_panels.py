"""The Grafana dashboard's SQL on PostgreSQL, over rows a real monitor flow wrote.

No Grafana server runs here: the test reads the provisioned dashboard, substitutes what Grafana
would (the model and column variables, ``$__timeFilter``), runs every panel, variable and
annotation query, and checks each returns rows of the shape its panel expects.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from flows.monitor import MonitorParams, monitor_model
from monitoring_lib.actions.log import ActionKind, ActionStatus, record_action
from monitoring_lib.store.repository import model_id
from tests.flows.helpers import DRIFT_ALERT_POLICY, write_spec_file

pytestmark = [pytest.mark.postgres, pytest.mark.prefect]
GRAFANA = Path(__file__).resolve().parents[2] / "deployments" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "driftwise.json"
DAYS = [date(2024, 5, 1), date(2024, 5, 2)]
MODEL = "credit-default"
TIME_RANGE = ("2024-04-01T00:00:00Z", "2024-06-01T00:00:00Z")
# The webhook's variable is unset: alerts queue in the outbox and stay there, which is all the
# annotations need.
ALERTS = {"channels": [{"type": "webhook", "url_env": "DRIFTWISE_TEST_UNSET_HOOK"}]}


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def substitute(sql: str, columns: list[str]) -> str:
    """What Grafana sends for model = credit-default, column = All, and the test's time range."""
    quoted = ", ".join("'" + c.replace("'", "''") + "'" for c in columns) or "''"
    sql = sql.replace("${model:sqlstring}", f"'{MODEL}'").replace("${column:sqlstring}", quoted)
    sql = re.sub(
        r"\$__timeFilter\(((?:[^()]|\([^()]*\))+)\)",
        lambda m: f"{m.group(1)} BETWEEN '{TIME_RANGE[0]}' AND '{TIME_RANGE[1]}'",
        sql,
    )
    assert "$" not in sql, f"an unsubstituted Grafana macro or variable is left: {sql}"
    return sql


def run(engine: Engine, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        result = connection.execute(text(sql))
        return list(result.keys()), [tuple(row) for row in result]


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("grafana")


@pytest.fixture
def filled(pg_store: Engine, spec_dir: Path) -> Engine:
    """Two windows through the monitor flow (the second drifted: an alert), and a retraining."""
    spec = write_spec_file(
        spec_dir, DAYS, changed_from=DAYS[1], service=True,
        extra={"policy": DRIFT_ALERT_POLICY, "alerts": ALERTS},
    )  # fmt: skip
    for day in DAYS:
        monitor_model(MonitorParams(spec_path=str(spec), window_date=day, write_report=False))
    with Session(pg_store) as session, session.begin():
        model = model_id(session, MODEL)
        assert model is not None
        record_action(
            session, model, ActionKind.RETRAIN, ActionStatus.PROMOTED,
            now=datetime(2024, 5, 3, 2, tzinfo=UTC), outcome="champion v1 -> v2",
            window_start=datetime(2024, 5, 2, tzinfo=UTC),
        )  # fmt: skip
    return pg_store


def test_every_query_returns_rows_of_its_panels_shape(filled: Engine) -> None:
    """One flow fixture for both checks: the two monitor runs are most of this module's time."""
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) == {"model", "column"}

    _, models = run(filled, substitute(variables["model"]["query"], []))
    assert models == [(MODEL,)]
    _, column_rows = run(filled, substitute(variables["column"]["query"], []))
    columns = [row[0] for row in column_rows]
    assert {"income", "age"} <= set(columns)

    for panel in board["panels"]:
        for target in panel["targets"]:
            names, rows = run(filled, substitute(target["rawSql"], columns))
            assert rows, f"panel {panel['title']!r} returned no rows"
            if target["format"] == "time_series":
                assert names == ["time", "metric", "value"], panel["title"]
                assert all(isinstance(row[0], datetime) for row in rows)
                assert all(isinstance(row[2], int | float) for row in rows)
                assert all(isinstance(row[1], str) and row[1] for row in rows)

    for annotation in board["annotations"]["list"]:
        if "target" not in annotation:
            continue  # Grafana's built-in annotations
        names, rows = run(filled, substitute(annotation["target"]["rawSql"], columns))
        assert names == ["time", "text", "tags"], annotation["name"]
        assert rows, f"annotation {annotation['name']!r} returned no rows"
    panels_show_what_the_flow_stored(filled, board)


def panels_show_what_the_flow_stored(filled: Engine, board: dict[str, Any]) -> None:
    panels = {p["title"]: p["targets"][0]["rawSql"] for p in board["panels"] if p["targets"]}
    _, status = run(filled, substitute(panels["Status per model (latest window)"], []))
    assert [(row[0], row[1]) for row in status] == [(MODEL, "red")]  # the drifted window
    _, share = run(filled, substitute(panels["Drifted share of feature columns"], []))
    assert len(share) == len(DAYS)  # one point per window (starts at local midnight)
    assert share[0][2] < 0.25 < share[1][2]
    _, coverage = run(filled, substitute(panels["Label coverage"], []))
    assert all(0 < row[2] <= 1 for row in coverage)
    _, events = run(filled, substitute(panels["Alerts and actions"], []))
    assert {row[2] for row in events} == {"alert", "retrain"}
    _, compliance = run(filled, substitute(panels["SLO compliance over the period"], []))
    assert {row[1] for row in compliance} == {f"{MODEL} / availability", f"{MODEL} / fast"}
    assert all(0.9 < row[2] <= 1 for row in compliance)
    _, latency = run(filled, substitute(panels["Latency percentiles (ms)"], []))
    assert {row[1] for row in latency} == {f"{MODEL} / {q}" for q in ("p50", "p95", "p99")}


def test_the_dashboard_uses_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/driftwise.yaml").read_text())
    (source,) = provisioned["datasources"]
    board = dashboard()
    used = {json.dumps(p["datasource"], sort_keys=True) for p in board["panels"]}
    used |= {json.dumps(v["datasource"], sort_keys=True) for v in board["templating"]["list"]}
    assert used == {json.dumps({"type": source["type"], "uid": source["uid"]}, sort_keys=True)}
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/driftwise.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"
    assert len({panel["id"] for panel in board["panels"]}) == len(board["panels"])
