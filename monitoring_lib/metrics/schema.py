"""The schema check: columns missing from the window, and dtypes that changed kind since the
reference (int64 to float64 because a NaN appeared is no change; numbers turning into text is)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import pandas as pd

from monitoring_lib.metrics.data_quality import LISTED_LIMIT, Check
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus

KINDS = ("numeric", "string", "bool", "datetime", "mixed", "other")
"""Dtype kinds compared by the schema check: int64 -> float64 (a NaN appeared) is no change."""


_INFERRED_KINDS = {
    **dict.fromkeys(("string", "bytes", "categorical"), "string"),
    **dict.fromkeys(("integer", "integer-na", "floating", "mixed-integer-float"), "numeric"),
    **dict.fromkeys(("datetime64", "datetime", "date"), "datetime"),
    **dict.fromkeys(("mixed", "mixed-integer"), "mixed"),
    "decimal": "numeric",
    "boolean": "bool",
}


def dtype_kind(dtype: Any) -> str:
    """Kind of a dtype or dtype name; ``object`` counts as string (most object columns are)."""
    try:
        dtype = pd.api.types.pandas_dtype(dtype)
    except (TypeError, ValueError):
        return "other"
    if isinstance(dtype, pd.CategoricalDtype):
        return "string" if dtype.categories is None else dtype_kind(dtype.categories.dtype)
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
        return "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return "string"
    return "other"


def column_kind(series: pd.Series) -> str | None:
    """Kind of a column's values; object columns are inferred. None when every value is missing."""
    if not series.notna().any():
        return None
    if not pd.api.types.is_object_dtype(series.dtype):
        return dtype_kind(series.dtype)
    return _INFERRED_KINDS.get(pd.api.types.infer_dtype(series, skipna=True), "other")


def column_kinds(df: pd.DataFrame) -> dict[str, str]:
    """Kinds of a reference frame's columns, to store and pass as ``reference_dtypes`` later."""
    return {str(name): column_kind(s) or dtype_kind(s.dtype) for name, s in df.items()}


def _dtype_record(
    series: pd.Series, name: str, reference: str | None, segment: str
) -> MetricRecord:
    check = Check(Metric.SCHEMA_DTYPE_CHANGED, name, segment)
    if reference is None:
        return check.without_value(MetricStatus.SKIPPED, "no reference dtype for this column")
    expected = reference if reference in KINDS else dtype_kind(reference)
    observed = column_kind(series)
    if observed is None:
        reason = "every value is missing, so the type cannot be told"
        return check.without_value(MetricStatus.INSUFFICIENT_DATA, reason)
    return check.result(
        observed == expected,
        float(observed != expected),
        expected_kind=expected,
        observed_kind=observed,
        expected_dtype=reference,
        observed_dtype=str(series.dtype),
    )


def _renamed_candidates(
    expected: str | None, extra: list[str], source_columns: Mapping[str, str]
) -> list[str]:
    """Extra columns a missing one may have been renamed to: those of its kind, or of unknown
    kind (a CSV column that was not read)."""
    if expected is None:
        return extra[:LISTED_LIMIT]
    wanted = expected if expected in KINDS else dtype_kind(expected)
    return [
        name
        for name in extra
        if not source_columns.get(name) or dtype_kind(source_columns[name]) == wanted
    ][:LISTED_LIMIT]


def check_schema(
    window: pd.DataFrame,
    *,
    expected_columns: Collection[str],
    reference_dtypes: Mapping[str, str],
    segment: str = DATASET,
    source_columns: Mapping[str, str] | None = None,
) -> list[MetricRecord]:
    """Compare a window's columns with the expected ones and the reference dtypes.

    ``reference_dtypes`` maps a column to a kind (see ``column_kinds``) or a dtype name;
    ``source_columns`` the source's own header (column -> dtype, '' when unread), which holds
    the columns the window did not read. Per expected column: SCHEMA_MISSING_COLUMN (with the
    extra columns it may have been renamed to) and, when present, SCHEMA_DTYPE_CHANGED (value 1
    when violated, 0 when not); one dataset-level SCHEMA_EXTRA_COLUMN counts unexpected columns
    and names them (a warning: nothing the monitor reads is broken by one).
    """
    header = dict(source_columns or {})
    names = [str(name) for name in window.columns]
    position = {name: i for i, name in reversed(list(enumerate(names)))}
    extra = sorted((set(names) | set(header)) - set(expected_columns))
    records: list[MetricRecord] = []
    for name in dict.fromkeys(expected_columns):
        present = name in position
        missing = Check(Metric.SCHEMA_MISSING_COLUMN, name, segment)
        expected = reference_dtypes.get(name)
        found = {} if present else {"renamed_to": _renamed_candidates(expected, extra, header)}
        records.append(
            missing.result(present, float(not present), expected_dtype=expected, **found)
        )
        if present:
            series = window.iloc[:, position[name]]
            records.append(_dtype_record(series, name, reference_dtypes.get(name), segment))
    records.append(_extra_record(extra, header, segment))
    return records


def _extra_record(extra: list[str], header: Mapping[str, str], segment: str) -> MetricRecord:
    listed = extra[:LISTED_LIMIT]
    details = {"columns": listed, "dtypes": {name: header.get(name, "") for name in listed}}
    if not extra:
        return MetricRecord(Metric.SCHEMA_EXTRA_COLUMN, 0.0, segment=segment, details=details)
    return MetricRecord(
        Metric.SCHEMA_EXTRA_COLUMN, float(len(extra)), MetricStatus.WARNING, segment=segment,
        details={**details, "reason": f"{len(extra)} column(s) the spec does not name"},
    )  # fmt: skip
