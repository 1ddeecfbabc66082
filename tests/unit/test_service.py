"""Service health (RED) of a window: requests, error share, latency percentiles and each SLO's
good events, in memory (exact) and read in chunks (exact counts, sketched percentiles)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitoring_lib.io.loading import load_reference, load_window
from monitoring_lib.metrics.service import error_flags
from monitoring_lib.pipeline.evaluate import evaluate_window
from monitoring_lib.pipeline.stages import WindowEvaluation
from monitoring_lib.pipeline.streamed import evaluate_window_streamed
from monitoring_lib.records import Metric, MetricStatus
from monitoring_lib.spec.monitor import MonitorSpec, SpecError, parse_spec
from monitoring_lib.spec.service import ErrorSpec
from monitoring_lib.windows import window_starting_on

DAY = date(2024, 5, 2)
ROWS = 3_000
SLOS = [
    {"name": "availability", "objective": 0.995},
    {"name": "fast", "objective": 0.95, "latency_below_ms": 200},
]


def spec_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "scorer",
        "task": "regression",
        "window": {"timezone": "UTC"},
        "sources": {"predictions": {"path": "log.parquet"}, "reference": {"path": "ref.parquet"}},
        "columns": {
            "timestamp": "ts", "id": "id", "numerical": ["x"], "prediction": "pred",
            "latency": "latency_ms", "status": "http_status",
        },
        "service": {"errors": {"at_least": 500}, "slos": SLOS},
    }  # fmt: skip
    data.update(overrides)
    return data


def write_log(folder: Path, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    log = pd.DataFrame(
        {
            "ts": [start + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, ROWS)],
            "id": np.arange(ROWS),
            "x": rng.normal(size=ROWS),
            "pred": rng.normal(size=ROWS),
            "latency_ms": rng.lognormal(np.log(80), 0.6, ROWS),
            "http_status": rng.choice(
                [200, 200, 200, 404, 500, 503], ROWS, p=[0.5, 0.3, 0.15, 0.04, 0.006, 0.004]
            ),
        }
    )
    log.loc[::97, "latency_ms"] = np.nan  # some rows without a latency
    log.to_parquet(folder / "log.parquet")
    pd.DataFrame({"x": rng.normal(size=2_000), "pred": rng.normal(size=2_000)}).to_parquet(
        folder / "ref.parquet"
    )
    return log


def evaluations(folder: Path, tmp: Path) -> tuple[WindowEvaluation, WindowEvaluation]:
    spec = parse_spec(spec_data(), base_dir=folder)
    chunked = spec.model_copy(
        update={
            "memory": spec.memory.model_copy(update={"max_cells_in_memory": 1, "chunk_rows": 400})
        }
    )
    window = window_starting_on(DAY, timedelta(days=1), "UTC")
    whole = evaluate_window(
        spec, load_window(spec, window), load_reference(spec), artifacts=tmp / "a"
    )
    streamed = evaluate_window_streamed(chunked, window, artifacts=tmp / "b")
    return whole, streamed


@pytest.fixture(scope="module")
def window_pair(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[pd.DataFrame, WindowEvaluation, WindowEvaluation]:
    folder = tmp_path_factory.mktemp("service")
    log = write_log(folder)
    return log, *evaluations(folder, tmp_path_factory.mktemp("artifacts"))


def test_a_window_in_memory_stores_exact_red_metrics_and_slo_events(
    window_pair: tuple[pd.DataFrame, WindowEvaluation, WindowEvaluation],
) -> None:
    log, whole, _ = window_pair
    records = whole.by_key()
    errors = int((log["http_status"] >= 500).sum())
    latency = log["latency_ms"].dropna()
    assert records[(Metric.SERVICE_REQUESTS, "", "")].value == ROWS
    share = records[(Metric.SERVICE_ERROR_SHARE, "", "")]
    assert share.value == pytest.approx(errors / ROWS)
    assert share.details["count"] == errors
    for metric, q in ((Metric.SERVICE_LATENCY_P50, 0.5), (Metric.SERVICE_LATENCY_P95, 0.95),
                      (Metric.SERVICE_LATENCY_P99, 0.99)):  # fmt: skip
        record = records[(metric, "", "")]
        assert record.value == pytest.approx(float(np.quantile(latency, q)))
        assert record.details["exact"] is True
    availability = records[(Metric.SLO_WINDOW_GOOD, "availability", "")]
    assert availability.details == {
        "count": ROWS - errors, "total": ROWS, "objective": 0.995, "kind": "errors",
    }  # fmt: skip
    fast = records[(Metric.SLO_WINDOW_GOOD, "fast", "")]
    assert fast.details["count"] == int((latency < 200).sum())
    assert fast.details["total"] == len(latency)
    # The service columns are not features: no drift, no data-quality check on them.
    assert not any(r.column in ("latency_ms", "http_status") for r in whole.records
                   if r.metric.startswith(("drift.", "dq.")))  # fmt: skip


def test_a_streamed_window_counts_exactly_and_reads_percentiles_from_its_profile(
    window_pair: tuple[pd.DataFrame, WindowEvaluation, WindowEvaluation],
) -> None:
    _, whole, streamed = window_pair
    exact, chunked = whole.by_key(), streamed.by_key()
    for key in [k for k in exact if k[0].startswith(("service.", "slo."))]:
        if key[0].startswith("service.latency"):
            assert chunked[key].value == pytest.approx(exact[key].value, rel=0.05), key
            assert chunked[key].details["exact"] is False
        else:
            assert chunked[key] == exact[key], key


def test_a_log_without_service_columns_stores_no_service_metric(tmp_path: Path) -> None:
    write_log(tmp_path)
    data = spec_data(service={})
    data["columns"] = {k: v for k, v in data["columns"].items() if k not in ("latency", "status")}
    spec = parse_spec(data, base_dir=tmp_path)
    window = window_starting_on(DAY, timedelta(days=1), "UTC")
    result = evaluate_window(
        spec, load_window(spec, window), load_reference(spec), artifacts=tmp_path
    )
    assert not [r for r in result.records if r.metric.startswith(("service.", "slo."))]


def test_an_empty_window_has_no_error_share_but_says_why(tmp_path: Path) -> None:
    write_log(tmp_path)
    spec = parse_spec(spec_data(), base_dir=tmp_path)
    window = window_starting_on(DAY + timedelta(days=5), timedelta(days=1), "UTC")
    result = evaluate_window(
        spec, load_window(spec, window), load_reference(spec), artifacts=tmp_path
    )
    share = result.by_key()[(Metric.SERVICE_ERROR_SHARE, "", "")]
    assert share.value is None
    assert share.status is MetricStatus.INSUFFICIENT_DATA
    assert "no row" in share.details["reason"]


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        (ErrorSpec(at_least=500), [False, False, True, True, False]),
        (ErrorSpec(values=["timeout", 503]), [False, False, False, True, False]),
        (ErrorSpec(), [False, False, False, False, False]),
    ],
)
def test_what_counts_as_an_error_is_configurable(errors: ErrorSpec, expected: list[bool]) -> None:
    status = pd.Series([200, 404, 500, 503, None], dtype="Float64")
    known, error = error_flags(status, errors)
    assert list(known) == [True, True, True, True, False]
    assert list(known & error) == expected


def test_text_and_boolean_statuses() -> None:
    known, error = error_flags(
        pd.Series(["ok", "ERROR", "Timeout", None]), ErrorSpec(values=["error", "timeout"])
    )
    assert list(known & error) == [False, True, True, False]
    _, error = error_flags(pd.Series([False, True, False]), ErrorSpec())
    assert list(error) == [False, True, False]


def test_slos_and_burn_rate_rules_name_what_they_need() -> None:
    data = spec_data()
    data["columns"] = {k: v for k, v in data["columns"].items() if k != "latency"}
    data["policy"] = {"rules": [{
        "name": "burn", "metric": "slo.burn_rate", "column": "availabilty", "direction": "above",
        "threshold": {"long": "3d", "short": "1d", "factor": 2},
    }]}  # fmt: skip
    with pytest.raises(SpecError) as error:
        parse_spec(data)
    text = str(error.value)
    assert "service.slos[1]: SLO 'fast' is about latency: name columns.latency" in text
    assert "rule 'burn' watches SLO 'availabilty', which service.slos does not declare" in text


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"threshold": {"long": "1d", "short": "3d", "factor": 2}}, "short must be shorter"),
        ({"threshold": 2}, "takes a burn-rate threshold"),
        ({"direction": "below"}, "use 'above'"),
        ({"metric": "service.error_share"}, "needs metric slo.burn_rate"),
    ],
)
def test_burn_rate_rules_are_checked(rule: dict[str, Any], message: str) -> None:
    data = spec_data()
    data["policy"] = {"rules": [{
        "name": "burn", "metric": "slo.burn_rate", "column": "availability", "direction": "above",
        "threshold": {"long": "3d", "short": "1d", "factor": 2}, **rule,
    }]}  # fmt: skip
    with pytest.raises(SpecError, match=message):
        parse_spec(data)


def test_a_valid_service_spec(tmp_path: Path) -> None:
    spec: MonitorSpec = parse_spec(spec_data(), base_dir=tmp_path)
    assert [s.kind for s in spec.service.slos] == ["errors", "latency"]
    assert spec.service.slos[0].period == timedelta(days=30)
