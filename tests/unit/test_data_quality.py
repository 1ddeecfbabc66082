"""Constraints learnt from the reference profile, checked on window profiles; schema checks."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from monitoring_lib.metrics.data_quality import (
    DEFAULT_RANGE_TOLERANCE,
    CategoryRule,
    ConstraintSet,
    RangeRule,
    check_constraints,
    derive_constraints,
)
from monitoring_lib.metrics.profiling import profile_frame
from monitoring_lib.metrics.schema import check_schema, column_kinds
from monitoring_lib.records import Metric, MetricRecord, MetricStatus

NUMERICAL = ["amount", "level", "score"]
CATEGORICAL = ["channel"]


def reference_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = 400
    amount = rng.uniform(0.0, 10.0, rows)
    amount[[0, 1]] = [0.0, 10.0]  # the reference range is exactly [0, 10]
    score = rng.normal(size=rows)
    score[::50] = np.nan  # the reference has missing scores: no not-null rule for it
    return pd.DataFrame(
        {
            "amount": amount,
            "level": np.full(rows, 5),
            "score": score,
            "channel": rng.choice(["web", "shop", "phone"], rows),
        }
    )


def clean_window() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [0.5, 9.9, 4.0, 10.8],  # 10.8 is inside the 10% margin
            "level": [5, 5, 5, 5],
            "score": [0.1, np.nan, -0.3, 2.0],
            "channel": ["web", "shop", "web", "phone"],
        }
    )


@pytest.fixture(scope="module")
def constraints() -> ConstraintSet:
    reference = profile_frame(reference_frame())
    return derive_constraints(reference, numerical=NUMERICAL, categorical=CATEGORICAL)


def by_key(records: list[MetricRecord]) -> dict[tuple[str, str], MetricRecord]:
    keys = [(r.metric, r.column) for r in records]
    assert len(keys) == len(set(keys)), "a window's records must not repeat a key"
    return dict(zip(keys, records, strict=True))


def bounds(rule: RangeRule) -> tuple[object, ...]:
    return (rule.column, rule.lower, rule.upper, rule.reference_min, rule.reference_max)


def test_rules_are_learnt_from_the_reference(constraints: ConstraintSet) -> None:
    assert constraints.not_null == ("amount", "level", "channel")
    ranges = {rule.column: rule for rule in constraints.ranges}
    assert bounds(ranges["amount"]) == ("amount", -1.0, 11.0, 0.0, 10.0)
    # a constant reference column is widened by a share of its value
    assert bounds(ranges["level"]) == ("level", 4.5, 5.5, 5.0, 5.0)
    assert (ranges["amount"].reference_n, ranges["score"].reference_n) == (400, 392)
    # 400 reference values may have missed a little of the distribution: more tolerance
    assert all(rule.tolerance > constraints.range_tolerance for rule in constraints.ranges)
    assert all(rule.margin == constraints.range_margin for rule in constraints.ranges)
    assert constraints.categories == (CategoryRule("channel", ("phone", "shop", "web")),)
    assert constraints.skipped == ()


def test_constraint_set_round_trips_through_json(constraints: ConstraintSet) -> None:
    assert ConstraintSet.from_json(constraints.to_json()) == constraints


@pytest.mark.parametrize("text", ["", "{}", '{"not_null": 3}', "[1, 2]"])
def test_a_stored_constraint_set_that_is_not_one_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="constraint set"):
        ConstraintSet.from_json(text)


@pytest.mark.parametrize("margin", [-0.1, float("nan"), float("inf")])
def test_range_margin_must_be_a_finite_non_negative_number(margin: float) -> None:
    with pytest.raises(ValueError, match="range_margin"):
        derive_constraints(
            profile_frame(reference_frame()),
            numerical=["amount"],
            categorical=[],
            range_margin=margin,
        )


def test_a_clean_window_passes_every_constraint(constraints: ConstraintSet) -> None:
    records = check_constraints(profile_frame(clean_window()), constraints, segment="region=eu")
    assert len(records) == 3 + 3 + 1  # not-null, ranges, categories
    assert all(r.status is MetricStatus.OK for r in records), records
    assert all(r.value == 0 and r.segment == "region=eu" for r in records)


def set_value(column: str, value: object) -> Callable[[pd.DataFrame], None]:
    def change(df: pd.DataFrame) -> None:
        df[column] = df[column].astype(object)
        df.loc[1, column] = value

    return change


VIOLATIONS = {
    "missing amount": (set_value("amount", np.nan), Metric.DQ_NOT_NULL, "amount", 1.0),
    "missing channel": (set_value("channel", None), Metric.DQ_NOT_NULL, "channel", 1.0),
    "amount above range": (set_value("amount", 11.5), Metric.DQ_RANGE, "amount", 0.25),
    "amount below range": (set_value("amount", -3.0), Metric.DQ_RANGE, "amount", 0.25),
    "constant changed": (set_value("level", 6), Metric.DQ_RANGE, "level", 0.25),
    "new category": (set_value("channel", "fax"), Metric.DQ_ALLOWED_CATEGORIES, "channel", 1.0),
}


@pytest.mark.parametrize(
    ("change", "metric", "column", "value"), VIOLATIONS.values(), ids=VIOLATIONS.keys()
)
def test_each_constraint_flags_a_violating_window(
    constraints: ConstraintSet,
    change: Callable[[pd.DataFrame], None],
    metric: Metric,
    column: str,
    value: float,
) -> None:
    window = clean_window()
    change(window)
    records = by_key(check_constraints(profile_frame(window), constraints))
    failed = {key for key, r in records.items() if r.status is MetricStatus.FAILED}
    assert failed == {(metric, column)}
    assert records[(metric, column)].value == value


def test_failure_details_say_what_was_observed_and_expected(constraints: ConstraintSet) -> None:
    window = clean_window()
    window.loc[0, "amount"] = 20.0
    window.loc[2, "channel"] = "fax"
    records = by_key(check_constraints(profile_frame(window), constraints))
    ranged = records[(Metric.DQ_RANGE, "amount")].details
    assert (ranged["observed_max"], ranged["expected_upper"]) == (20.0, 11.0)
    categories = records[(Metric.DQ_ALLOWED_CATEGORIES, "channel")].details
    assert categories["unseen"] == [{"value": "fax", "count": 1}]
    assert categories["allowed"] == ["phone", "shop", "web"]


def test_a_missing_column_is_skipped_and_the_others_still_checked(
    constraints: ConstraintSet,
) -> None:
    window = clean_window().drop(columns=["amount"])
    window.loc[0, "channel"] = "fax"
    records = by_key(check_constraints(profile_frame(window), constraints))
    for metric in (Metric.DQ_NOT_NULL, Metric.DQ_RANGE):
        assert records[(metric, "amount")].status is MetricStatus.SKIPPED
        assert "missing from the window" in records[(metric, "amount")].details["reason"]
    assert records[(Metric.DQ_ALLOWED_CATEGORIES, "channel")].status is MetricStatus.FAILED
    assert records[(Metric.DQ_RANGE, "level")].status is MetricStatus.OK


def test_an_empty_window_has_insufficient_data(constraints: ConstraintSet) -> None:
    records = check_constraints(profile_frame(clean_window().iloc[:0]), constraints)
    assert records
    assert all(r.status is MetricStatus.INSUFFICIENT_DATA for r in records)
    assert all(r.details["reason"] == "the window has no rows" for r in records)


def test_an_all_missing_column_fails_not_null_and_lacks_a_range(
    constraints: ConstraintSet,
) -> None:
    window = clean_window()
    window["amount"] = np.nan
    records = by_key(check_constraints(profile_frame(window), constraints))
    assert records[(Metric.DQ_NOT_NULL, "amount")].status is MetricStatus.FAILED
    assert records[(Metric.DQ_NOT_NULL, "amount")].value == 4
    assert records[(Metric.DQ_RANGE, "amount")].status is MetricStatus.INSUFFICIENT_DATA


def test_rules_the_reference_cannot_support_are_recorded_as_skipped() -> None:
    reference = pd.DataFrame(
        {
            "empty": [np.nan] * 900,
            "ids": [f"id-{i}" for i in range(900)],  # more than the sketch lists exactly
        }
    )
    constraints = derive_constraints(
        profile_frame(reference), numerical=["empty", "absent"], categorical=["ids"]
    )
    assert constraints.ranges == ()
    assert constraints.categories == ()
    records = by_key(check_constraints(profile_frame(reference), constraints))
    assert set(records) == {
        (Metric.DQ_RANGE, "empty"),
        (Metric.DQ_NOT_NULL, "absent"),
        (Metric.DQ_RANGE, "absent"),
        (Metric.DQ_ALLOWED_CATEGORIES, "ids"),
        (Metric.DQ_NOT_NULL, "ids"),
    }
    assert records[(Metric.DQ_NOT_NULL, "ids")].status is MetricStatus.OK
    skipped = [r for key, r in records.items() if key != (Metric.DQ_NOT_NULL, "ids")]
    assert all(r.status is MetricStatus.SKIPPED and r.details["reason"] for r in skipped)


def test_a_window_with_more_distinct_values_than_the_sketch_holds_fails(
    constraints: ConstraintSet,
) -> None:
    window = pd.DataFrame({"channel": [f"c{i}" for i in range(1_000)] + ["web"] * 10})
    records = by_key(check_constraints(profile_frame(window), constraints))
    record = records[(Metric.DQ_ALLOWED_CATEGORIES, "channel")]
    assert record.status is MetricStatus.FAILED
    assert record.details["exact"] is False
    assert record.value is not None
    assert record.value > 900


def test_integer_categories_match_when_a_missing_value_makes_the_column_float() -> None:
    reference = pd.DataFrame({"grade": [1, 2, 3, 2]})
    window = pd.DataFrame({"grade": [1.0, np.nan, 3.0]})  # pandas stores it as float64
    constraints = derive_constraints(profile_frame(reference), numerical=[], categorical=["grade"])
    records = by_key(check_constraints(profile_frame(window), constraints))
    assert records[(Metric.DQ_ALLOWED_CATEGORIES, "grade")].status is MetricStatus.OK


# --- range rules judge a share of the window --------------------------------------------------

TAILS = ["amount", "count", "measure", "spread"]


def tails_frame(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    """Heavy-tailed amounts and counts next to a normal measurement, as in a real feature set."""
    return pd.DataFrame(
        {
            "amount": np.round(rng.lognormal(3.0, 1.0, rows), 2),
            "count": rng.poisson(20.0, rows),  # int64
            "measure": rng.normal(50.0, 10.0, rows),
            "spread": rng.lognormal(0.0, 2.0, rows),
        }
    )


def tails_constraints(seed: int, range_tolerance: float = DEFAULT_RANGE_TOLERANCE) -> ConstraintSet:
    reference = profile_frame(tails_frame(np.random.default_rng([seed, 0]), 100_000))
    return derive_constraints(
        reference, numerical=TAILS, categorical=[], range_tolerance=range_tolerance
    )


def tails_window(seed: int, rows: int = 1_000_000) -> pd.DataFrame:
    return tails_frame(np.random.default_rng([seed, 1]), rows)


def failed_keys(records: list[MetricRecord]) -> set[tuple[str, str]]:
    return {(r.metric, r.column) for r in records if r.status is MetricStatus.FAILED}


def test_a_large_window_from_the_reference_distribution_passes_its_ranges() -> None:
    strict_failures: set[tuple[str, str]] = set()
    for seed in (1, 2, 3):
        window = profile_frame(tails_window(seed))
        records = by_key(check_constraints(window, tails_constraints(seed)))
        ranges = [records[(Metric.DQ_RANGE, column)] for column in TAILS]
        assert all(r.status is MetricStatus.OK for r in ranges), (seed, ranges)
        assert all(r.details["exact"] is False for r in ranges)
        strict = check_constraints(window, tails_constraints(seed, range_tolerance=0.0))
        strict_failures |= failed_keys(strict)
    # 1M values reach further into the tails than 100k did: "no value outside" cries wolf
    assert strict_failures
    assert {metric for metric, _column in strict_failures} == {Metric.DQ_RANGE}


@pytest.fixture(scope="module")
def tails_rules() -> ConstraintSet:
    return tails_constraints(0)


def sentinels(df: pd.DataFrame) -> None:
    rows = np.random.default_rng(5).choice(len(df), size=len(df) // 50, replace=False)
    df.loc[rows, "amount"] = -999.0  # 2% of the rows


def cents(df: pd.DataFrame) -> None:
    df["amount"] *= 100


def sign_flip(df: pd.DataFrame) -> None:
    df["count"] = -df["count"]


def squared(df: pd.DataFrame) -> None:
    df["measure"] **= 2


@pytest.mark.parametrize(
    ("change", "column"),
    [(sentinels, "amount"), (cents, "amount"), (sign_flip, "count"), (squared, "measure")],
    ids=["-999 in 2% of rows", "amount times 100", "counts negated", "measure squared"],
)
def test_a_broken_column_fails_its_range_in_a_large_window(
    tails_rules: ConstraintSet, change: Callable[[pd.DataFrame], None], column: str
) -> None:
    window = tails_window(0)
    change(window)
    records = check_constraints(profile_frame(window), tails_rules)
    assert failed_keys(records) == {(Metric.DQ_RANGE, column)}
    record = by_key(records)[(Metric.DQ_RANGE, column)]
    assert record.value is not None
    assert record.value > record.details["tolerance"]
    assert f"{record.details['tolerance']:.2%} tolerated" in record.details["reason"]


def test_sentinels_count_as_their_share_of_the_window(tails_rules: ConstraintSet) -> None:
    window = tails_window(0, rows=200_000)
    sentinels(window)
    records = by_key(check_constraints(profile_frame(window), tails_rules))
    record = records[(Metric.DQ_RANGE, "amount")]
    assert record.value == pytest.approx(0.02, abs=0.0035)  # the KLL sketch's rank error
    assert record.details["observed_min"] == -999.0
    assert record.details["observed_n"] == 200_000


def narrow_range(range_tolerance: float = DEFAULT_RANGE_TOLERANCE) -> ConstraintSet:
    """amount in [0, 10] from 100k values: the allowed range is [-1, 11]."""
    amount = np.random.default_rng(3).uniform(0.0, 10.0, 100_000)
    amount[[0, 1]] = [0.0, 10.0]
    reference = profile_frame(pd.DataFrame({"amount": amount}))
    return derive_constraints(
        reference, numerical=["amount"], categorical=[], range_tolerance=range_tolerance
    )


@pytest.mark.parametrize(("outliers", "failed"), [(1, False), (4, False), (6, True), (40, True)])
def test_a_range_fails_once_the_share_outside_exceeds_the_tolerance(
    outliers: int, failed: bool
) -> None:
    constraints = narrow_range()
    (rule,) = constraints.ranges
    assert rule.tolerance == pytest.approx(constraints.range_tolerance, abs=1e-4)
    amount = np.full(1_000, 5.0)  # few enough values for the sketch to count them exactly
    amount[:outliers] = 30.0
    (record,) = [
        r
        for r in check_constraints(profile_frame(pd.DataFrame({"amount": amount})), constraints)
        if r.metric == Metric.DQ_RANGE
    ]
    assert record.value == pytest.approx(outliers / 1_000)
    assert record.details["exact"] is True
    assert (record.status is MetricStatus.FAILED) is failed


def test_a_zero_tolerance_fails_on_any_value_outside() -> None:
    amount = np.random.default_rng(4).uniform(0.0, 10.0, 100_000)
    amount[0] = 11.5  # one value in 100k, far below the default tolerance
    window = profile_frame(pd.DataFrame({"amount": amount}))
    strict = narrow_range(range_tolerance=0.0)
    assert strict.ranges[0].tolerance == 0
    (lenient,) = [
        r for r in check_constraints(window, narrow_range()) if r.metric == Metric.DQ_RANGE
    ]
    (failed,) = [r for r in check_constraints(window, strict) if r.metric == Metric.DQ_RANGE]
    assert lenient.status is MetricStatus.OK
    assert failed.status is MetricStatus.FAILED
    assert "none may be outside [-1, 11]" in failed.details["reason"]


def test_a_range_from_a_tiny_reference_tolerates_what_it_could_not_have_seen() -> None:
    rng = np.random.default_rng(6)
    reference = profile_frame(pd.DataFrame({"amount": rng.lognormal(3.0, 1.0, 20)}))
    constraints = derive_constraints(reference, numerical=["amount"], categorical=[])
    (rule,) = constraints.ranges
    assert constraints.range_tolerance < rule.tolerance <= 0.5
    same = pd.DataFrame({"amount": rng.lognormal(3.0, 1.0, 10_000)})
    for window, status in [(same, MetricStatus.OK), (same * 100, MetricStatus.FAILED)]:
        records = by_key(check_constraints(profile_frame(window), constraints))
        assert records[(Metric.DQ_RANGE, "amount")].status is status


def test_a_single_reference_value_still_catches_a_scaled_column() -> None:
    reference = profile_frame(pd.DataFrame({"amount": [40.0]}))
    constraints = derive_constraints(reference, numerical=["amount"], categorical=[])
    (rule,) = constraints.ranges
    assert (rule.lower, rule.upper, rule.tolerance) == (36.0, 44.0, 0.5)
    for values, status in [([40.0] * 9, MetricStatus.OK), ([4000.0] * 9, MetricStatus.FAILED)]:
        records = by_key(
            check_constraints(profile_frame(pd.DataFrame({"amount": values})), constraints)
        )
        assert records[(Metric.DQ_RANGE, "amount")].status is status


OLD_FORMAT = json.dumps(
    {
        "categories": [{"allowed": ["phone", "web"], "column": "channel"}],
        "not_null": ["amount"],
        "range_margin": 0.2,
        "ranges": [
            {
                "column": "amount",
                "lower": -2.0,
                "upper": 12.0,
                "reference_min": 0.0,
                "reference_max": 10.0,
            }
        ],
        "skipped": [{"column": "score", "metric": "dq.range", "reason": "no values"}],
    }
)
"""A constraint set as stored before range rules had a tolerance."""


def test_a_constraint_set_stored_before_tolerances_loads_with_the_default() -> None:
    loaded = ConstraintSet.from_json(OLD_FORMAT)
    (rule,) = loaded.ranges
    assert bounds(rule) == ("amount", -2.0, 12.0, 0.0, 10.0)
    assert (rule.margin, rule.reference_n) == (0.2, None)
    assert rule.tolerance == loaded.range_tolerance == DEFAULT_RANGE_TOLERANCE > 0
    assert loaded.categories == (CategoryRule("channel", ("phone", "web")),)
    assert ConstraintSet.from_json(loaded.to_json()) == loaded
    one_in_a_thousand = np.full(1_000, 5.0)
    one_in_a_thousand[0] = 13.0
    window = pd.DataFrame({"amount": one_in_a_thousand, "channel": "web"})
    records = by_key(check_constraints(profile_frame(window), loaded))
    assert records[(Metric.DQ_RANGE, "amount")].status is MetricStatus.OK
    assert records[(Metric.DQ_RANGE, "amount")].details["reference_n"] is None
    records = by_key(check_constraints(profile_frame(window.iloc[:4]), loaded))
    assert records[(Metric.DQ_RANGE, "amount")].status is MetricStatus.FAILED


@pytest.mark.parametrize("tolerance", [-0.01, 1.0, float("nan")])
def test_range_tolerance_must_be_a_share_below_one(tolerance: float) -> None:
    with pytest.raises(ValueError, match="range_tolerance"):
        derive_constraints(
            profile_frame(reference_frame()),
            numerical=["amount"],
            categorical=[],
            range_tolerance=tolerance,
        )


# --- schema ------------------------------------------------------------------------------------

EXPECTED = ["amount", "level", "channel"]


def schema_records(window: pd.DataFrame) -> dict[tuple[str, str], MetricRecord]:
    kinds = column_kinds(reference_frame())
    return by_key(check_schema(window, expected_columns=EXPECTED, reference_dtypes=kinds))


def test_reference_kinds_are_inferred_from_values() -> None:
    assert column_kinds(reference_frame()) == {
        "amount": "numeric",
        "level": "numeric",
        "score": "numeric",
        "channel": "string",
    }


def test_a_clean_window_passes_the_schema_check() -> None:
    window = clean_window().drop(columns=["score"])
    window["level"] = window["level"].astype(float)  # int -> float is not a change of kind
    records = schema_records(window)
    assert len(records) == 3 + 3 + 1
    assert all(r.status is MetricStatus.OK and r.value == 0 for r in records.values())


SCHEMA_VIOLATIONS = {
    "missing column": (
        lambda df: df.drop(columns=["level"]),
        Metric.SCHEMA_MISSING_COLUMN,
        "level",
    ),
    "numbers as text": (
        lambda df: df.assign(amount=df["amount"].astype(str)),
        Metric.SCHEMA_DTYPE_CHANGED,
        "amount",
    ),
    "mixed object column": (
        lambda df: df.assign(channel=["web", 2, "shop", 3.5]),
        Metric.SCHEMA_DTYPE_CHANGED,
        "channel",
    ),
    "booleans for numbers": (
        lambda df: df.assign(level=[True, False, True, True]),
        Metric.SCHEMA_DTYPE_CHANGED,
        "level",
    ),
}


@pytest.mark.parametrize(
    ("change", "metric", "column"), SCHEMA_VIOLATIONS.values(), ids=SCHEMA_VIOLATIONS.keys()
)
def test_each_schema_check_flags_a_violating_window(
    change: Callable[[pd.DataFrame], pd.DataFrame], metric: Metric, column: str
) -> None:
    records = schema_records(change(clean_window().drop(columns=["score"])))
    failed = {key for key, r in records.items() if r.status is MetricStatus.FAILED}
    assert failed == {(metric, column)}
    assert records[(metric, column)].value == 1


def test_schema_details_name_the_change() -> None:
    window = clean_window().assign(amount=lambda df: df["amount"].astype(str), extra=0, more=1)
    records = schema_records(window)
    changed = records[(Metric.SCHEMA_DTYPE_CHANGED, "amount")].details
    assert (changed["expected_kind"], changed["observed_kind"]) == ("numeric", "string")
    assert records[(Metric.SCHEMA_EXTRA_COLUMN, "")].details["columns"] == [
        "extra",
        "more",
        "score",
    ]


def test_an_extra_column_is_a_warning_that_names_it() -> None:
    records = schema_records(clean_window().drop(columns=["score"]).assign(debug=1))
    extra = records[(Metric.SCHEMA_EXTRA_COLUMN, "")]
    assert (extra.value, extra.status) == (1, MetricStatus.WARNING)
    assert extra.details["columns"] == ["debug"]
    others = [r for key, r in records.items() if key != (Metric.SCHEMA_EXTRA_COLUMN, "")]
    assert all(r.status is MetricStatus.OK for r in others)


def test_the_source_header_shows_extra_and_renamed_columns_the_window_did_not_read() -> None:
    """A log read through the spec's columns only: 'level' was renamed to 'tier' (same kind)
    and an unread 'note' column appeared; both are seen in the source's header."""
    window = clean_window().drop(columns=["score", "level"])
    header = {**window.dtypes.astype(str).to_dict(), "tier": "int64", "note": "object"}
    records = by_key(
        check_schema(
            window, expected_columns=EXPECTED, reference_dtypes=column_kinds(reference_frame()),
            source_columns=header,
        )
    )  # fmt: skip
    extra = records[(Metric.SCHEMA_EXTRA_COLUMN, "")]
    assert (extra.value, extra.details["columns"]) == (2, ["note", "tier"])
    missing = records[(Metric.SCHEMA_MISSING_COLUMN, "level")]
    assert (missing.status, missing.details["renamed_to"]) == (MetricStatus.FAILED, ["tier"])


def test_an_all_missing_column_cannot_show_its_type() -> None:
    window = clean_window().drop(columns=["score"]).assign(amount=None)
    record = schema_records(window)[(Metric.SCHEMA_DTYPE_CHANGED, "amount")]
    assert record.status is MetricStatus.INSUFFICIENT_DATA
    assert "missing" in record.details["reason"]


def test_reference_dtypes_may_be_dtype_names() -> None:
    dtypes = reference_frame().dtypes.astype(str).to_dict()
    window = clean_window().assign(level=["5", "5", "5", "5"])
    records = by_key(check_schema(window, expected_columns=EXPECTED, reference_dtypes=dtypes))
    assert records[(Metric.SCHEMA_DTYPE_CHANGED, "level")].status is MetricStatus.FAILED
    assert records[(Metric.SCHEMA_DTYPE_CHANGED, "channel")].status is MetricStatus.OK
    assert records[(Metric.SCHEMA_DTYPE_CHANGED, "amount")].status is MetricStatus.OK
