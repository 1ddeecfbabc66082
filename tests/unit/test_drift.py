"""Drift verdicts: known drift is found, unchanged data stays quiet, chunks merge, bad input is
recorded with a reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import pytest

from monitoring_lib.metrics.drift.memory import compute_drift
from monitoring_lib.metrics.drift.streamed import compute_drift_streamed
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus, segment_key
from monitoring_lib.spec.drift import DriftSettings

NUM = [f"n{i}" for i in range(6)]
CAT = ["c0", "c1"]


def _frame(
    rows: int, rng: np.random.Generator, shift: float = 0.0, new_category: float = 0.0
) -> pd.DataFrame:
    data: dict[str, object] = {c: rng.normal(0.0, 1.0, rows) for c in NUM}
    data["n0"] = rng.normal(shift, 1.0, rows)
    cats, probs = ["a", "b", "c", "d"], np.array([0.4, 0.3, 0.2, 0.1])
    data["c0"] = rng.choice(cats, rows, p=probs)
    if new_category:
        data["c0"] = np.where(rng.random(rows) < new_category, "new", data["c0"])
    data["c1"] = rng.choice(cats, rows, p=probs)
    data["region"] = rng.choice(["north", "south", "tiny"], rows, p=[0.5, 0.49, 0.01])
    data["score"] = 1 / (1 + np.exp(-(data["n1"] + shift)))  # type: ignore[operator]
    data["label"] = rng.choice([0, 1], rows, p=[0.7, 0.3])
    return pd.DataFrame(data)


def _by_column(records: list[MetricRecord], segment: str = DATASET) -> dict[str, MetricRecord]:
    return {r.column: r for r in records if r.metric == Metric.DRIFT_SCORE and r.segment == segment}


def _dataset(records: list[MetricRecord], metric: Metric, segment: str = DATASET) -> MetricRecord:
    return next(r for r in records if r.metric == metric and r.segment == segment)


def _run(
    ref: pd.DataFrame, cur: pd.DataFrame, settings: DriftSettings, **kw: object
) -> list[MetricRecord]:
    return compute_drift(ref, cur, numerical=NUM, categorical=CAT, settings=settings, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["calibrated", "evidently"])
@pytest.mark.parametrize("seed", range(5))
def test_known_drift_is_flagged_and_nothing_else(seed: int, mode: str) -> None:
    rng = np.random.default_rng(seed)
    ref, cur = _frame(10_000, rng), _frame(2_000, rng, shift=0.5, new_category=0.1)
    by_column = _by_column(_run(ref, cur, DriftSettings(mode=mode, seed=seed)))
    assert by_column["n0"].status is MetricStatus.DRIFT
    assert by_column["c0"].status is MetricStatus.DRIFT
    assert "unseen in the reference" in by_column["c0"].details["notes"][0]
    if mode == "calibrated":
        assert {c for c, r in by_column.items() if r.status is MetricStatus.DRIFT} == {"n0", "c0"}


def _false_alarm_days(mode: str, days: int, rows: int) -> int:
    rng = np.random.default_rng(42)
    ref = _frame(10_000, rng)
    settings = DriftSettings(mode=mode)
    flagged = 0
    for _ in range(days):
        by_column = _by_column(_run(ref, _frame(rows, rng), settings))
        flagged += any(r.status is MetricStatus.DRIFT for r in by_column.values())
    return flagged


def test_calibrated_mode_is_quiet_where_evidently_alarms() -> None:
    evidently_days = _false_alarm_days("evidently", 20, 300)
    calibrated_days = _false_alarm_days("calibrated", 20, 300)
    assert evidently_days >= 10
    assert calibrated_days <= 2


def test_dataset_share_count_prediction_target_and_segments() -> None:
    rng = np.random.default_rng(3)
    ref, cur = _frame(10_000, rng), _frame(3_000, rng, shift=0.8)
    records = _run(
        ref, cur, DriftSettings(), prediction="score", target="label", segments=["region"]
    )
    share, count = _dataset(records, Metric.DRIFT_SHARE), _dataset(records, Metric.DRIFT_COUNT)
    assert count.value == 1.0
    assert share.value == pytest.approx(1 / 8)
    assert share.status is MetricStatus.OK  # 1 of 8 is below the 0.5 dataset threshold
    prediction = next(r for r in records if r.metric == Metric.PREDICTION_DRIFT)
    target = next(r for r in records if r.metric == Metric.TARGET_DRIFT)
    assert (prediction.column, prediction.status) == ("score", MetricStatus.DRIFT)
    assert (target.column, target.status) == ("label", MetricStatus.OK)
    north = _by_column(records, segment_key("region", "north"))
    assert north["n0"].status is MetricStatus.DRIFT
    assert "region" not in north
    tiny = _dataset(records, Metric.DRIFT_SHARE, segment_key("region", "tiny"))
    assert tiny.status is MetricStatus.INSUFFICIENT_DATA
    assert "needed" in tiny.details["reason"]
    assert len({r.key for r in records}) == len(records)


@pytest.mark.parametrize("method", ["auto", "ks", "psi", "jensenshannon", "wasserstein"])
def test_chunked_window_equals_single_pass(method: str) -> None:
    rng = np.random.default_rng(11)
    ref, cur = _frame(5_000, rng), _frame(1_500, rng, shift=0.3, new_category=0.05)
    settings = DriftSettings(
        method=method,
        per_column={c: {"method": "chisquare"} for c in CAT}
        if method in ("ks", "wasserstein")
        else {},
    )
    whole = _run(ref, cur, settings)

    def chunks(frame: pd.DataFrame) -> Callable[[Sequence[str]], Iterator[pd.DataFrame]]:
        return lambda names: (
            frame.iloc[i : i + 400][list(names)] for i in range(0, len(frame), 400)
        )

    parts = compute_drift_streamed(
        chunks(ref),
        chunks(cur),
        reference_rows=len(ref),
        window_rows=len(cur),
        column_types=ref,
        numerical=NUM,
        categorical=CAT,
        settings=settings,
        budget_mb=0.5,  # below one column's exact cost: every group merges chunk sketches
    )
    assert [(r.metric, r.column, r.status) for r in parts] == [
        (r.metric, r.column, r.status) for r in whole
    ]
    for a, b in zip(whole, parts, strict=True):
        if a.details.get("method") == "wasserstein":  # documented approximation: 0.1% of a std
            assert b.value == pytest.approx(a.value, rel=0, abs=1e-3)
        else:
            assert b.value == pytest.approx(a.value, rel=1e-9, abs=1e-12)


def test_settings_round_trip_and_reject_unknown_keys() -> None:
    settings = DriftSettings(method="psi", per_column={"n0": {"method": "ks", "threshold": 0.01}})
    assert DriftSettings.model_validate_json(settings.model_dump_json()) == settings
    assert settings.method_for("n0") == "ks"
    assert settings.threshold_for("n0") == 0.01
    assert settings.method_for("n1") == "psi"
    assert settings.threshold_for("n1") is None
    with pytest.raises(ValueError, match="extra"):
        DriftSettings.model_validate({"metod": "ks"})


def _bad_frames() -> dict[str, tuple[pd.DataFrame, pd.DataFrame, str, str]]:
    rng = np.random.default_rng(0)
    ok_num = pd.Series(rng.normal(size=200))
    ok_cat = pd.Series(rng.choice(["a", "b"], 200))
    return {
        "empty window": (
            pd.DataFrame({"x": ok_num}),
            pd.DataFrame({"x": pd.Series([], dtype=float)}),
            "num",
            "insufficient_data",
        ),
        "one row": (
            pd.DataFrame({"x": ok_num}),
            pd.DataFrame({"x": [1.0]}),
            "num",
            "insufficient_data",
        ),
        "all NaN": (
            pd.DataFrame({"x": ok_num}),
            pd.DataFrame({"x": [np.nan] * 200}),
            "num",
            "insufficient_data",
        ),
        "text in numerical": (
            pd.DataFrame({"x": ok_num}),
            pd.DataFrame({"x": ["1.5", "abc"] * 100}),
            "num",
            "error",
        ),
        "missing column": (
            pd.DataFrame({"x": ok_num}),
            pd.DataFrame({"y": ok_num}),
            "num",
            "error",
        ),
        "unhashable values": (
            pd.DataFrame({"x": ok_cat}),
            pd.DataFrame({"x": [[1], [2]] * 100}),
            "cat",
            "error",
        ),
    }


@pytest.mark.parametrize("case", list(_bad_frames()))
def test_bad_input_gets_a_status_and_reason(case: str) -> None:
    ref, cur, kind, status = _bad_frames()[case]
    records = compute_drift(
        ref,
        cur,
        numerical=["x"] if kind == "num" else [],
        categorical=["x"] if kind == "cat" else [],
    )
    column = next(r for r in records if r.metric == Metric.DRIFT_SCORE)
    assert column.status == status
    assert column.value is None
    assert column.details["reason"]
    assert _dataset(records, Metric.DRIFT_SHARE).status is MetricStatus.INSUFFICIENT_DATA


@pytest.mark.parametrize(
    ("ref_values", "cur_values", "status"),
    [
        ([1, "a", 2.5] * 100, [1, "a", 2.5] * 60, MetricStatus.OK),
        ([b"\xff\xfe", b"ok"] * 100, [b"\xff\xfe", b"ok", b"\x80"] * 60, MetricStatus.DRIFT),
        (["x" * 100_000, "y"] * 100, ["x" * 100_000, "y"] * 60, MetricStatus.OK),
    ],
    ids=["mixed types", "non-utf8 bytes", "very long strings"],
)
def test_awkward_categories_are_scored(
    ref_values: list[object], cur_values: list[object], status: MetricStatus
) -> None:
    records = compute_drift(
        pd.DataFrame({"x": ref_values}),
        pd.DataFrame({"x": cur_values}),
        numerical=[],
        categorical=["x"],
    )
    assert _by_column(records)["x"].status is status


def test_constant_columns_do_not_crash_and_a_moved_constant_drifts() -> None:
    ref = pd.DataFrame({"same": [3.0] * 500, "moved": [3.0] * 500})
    cur = pd.DataFrame({"same": [3.0] * 200, "moved": [4.0] * 200})
    by_column = _by_column(compute_drift(ref, cur, numerical=["same", "moved"], categorical=[]))
    assert by_column["same"].status is MetricStatus.OK
    assert by_column["moved"].status is MetricStatus.DRIFT


def test_configured_method_of_the_wrong_type_is_an_error() -> None:
    frame = pd.DataFrame({"x": ["a", "b"] * 100})
    records = compute_drift(
        frame, frame, numerical=[], categorical=["x"], settings=DriftSettings(method="ks")
    )
    column = _by_column(records)["x"]
    assert column.status is MetricStatus.ERROR
    assert "does not apply" in column.details["reason"]
