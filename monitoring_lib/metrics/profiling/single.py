"""Profiling one frame in this process: whylogs' profile on driftwise's uniform schema.

The frame is prepared first (text cleaned for whylogs' C++ sketches, infinities counted as
missing, whole floats profiled as integers) so that chunked profiles merge into what one pass
would give. Column preprocessing goes through the vectorised path (``fast``) when the installed
whylogs is the release it reproduces.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from datetime import datetime

import numpy as np
import pandas as pd

from monitoring_lib.metrics.profiling import fast
from monitoring_lib.metrics.profiling.whylogs_api import (
    WHYLOGS_VERSION,
    DatasetProfile,
    DatasetProfileView,
    DataType,
    DeclarativeSchema,
    MetricSpec,
    ResolverSpec,
    StandardMetric,
)

_UNIFORM_METRICS = (
    StandardMetric.counts,
    StandardMetric.types,
    StandardMetric.distribution,
    StandardMetric.cardinality,
    StandardMetric.frequent_items,
)
_ITEM_METRICS = (StandardMetric.frequent_items,)
_INT64_MAX = np.iinfo(np.int64).max
_EXACT_FLOAT_INT = 2.0**53


def _schema(columns: Collection[str], numeric_only: Collection[str]) -> DeclarativeSchema:
    """The uniform schema, less frequent items on the columns the spec names numerical only.

    A numerical column's frequent items are never read (summaries and data-quality rules list
    items of categorical columns only), yet sketching them formats every float as a string:
    about three quarters of a float column's profiling time. The profile stays plain whylogs,
    with one metric fewer on those columns.
    """
    lean = set(numeric_only) & set(columns)
    if not lean:
        return _uniform_schema()
    full = [MetricSpec(metric.value) for metric in _UNIFORM_METRICS]
    without_items = [MetricSpec(m.value) for m in _UNIFORM_METRICS if m not in _ITEM_METRICS]
    return DeclarativeSchema(
        [
            ResolverSpec(column_name=name, metrics=without_items if name in lean else full)
            for name in columns
        ]
    )


def _uniform_schema() -> DeclarativeSchema:
    """Same metrics for every column whatever its dtype.

    whylogs picks metrics from the dtype it first sees; a column that is int64 in one chunk and
    float64 (a NaN appeared) in the next would otherwise merge into a profile whose frequent items
    cover only some chunks, and chunked profiles would differ from single-pass ones.
    """
    metrics = [MetricSpec(metric.value) for metric in _UNIFORM_METRICS]
    return DeclarativeSchema([ResolverSpec(column_type=DataType, metrics=metrics)])


def _whylogs_ready_floats(series: pd.Series) -> pd.Series:
    """Floats with +-inf counted as missing and whole numbers profiled as integers.

    An infinity would make the mean and variance NaN for good (they are merged, not recomputed).
    whylogs keys frequent items and cardinality by type ("4" for an int, "4.000000" for a float)
    and pandas stores an int column as float once a value is missing, so without this the 4s of
    a chunk with a NaN would be counted apart from the 4s of the other chunks. The price: a real
    float column whose values are all whole in one chunk is sketched as integers in that chunk.
    """
    values = series.to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values)
    known = values[finite]
    whole = known.size > 0 and bool(np.all(known == np.round(known)))
    if whole and bool(np.all(np.abs(known) <= _EXACT_FLOAT_INT)):
        return pd.Series(np.where(finite, values, np.nan), index=series.index).astype("Int64")
    if isinstance(series.dtype, np.dtype) and not np.isinf(values).any():
        return series
    return pd.Series(np.where(finite, values, np.nan), index=series.index)


def _whylogs_ready_column(series: pd.Series) -> pd.Series:
    """A column whylogs can profile without crashing or producing NaN statistics."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        as_objects = series.astype(object).where(series.notna(), None)
        return fast.clean_text(as_objects)  # bytes decoded, lone surrogates escaped
    if pd.api.types.is_float_dtype(dtype):
        return _whylogs_ready_floats(series)
    if dtype == np.uint64 and len(series) and series.max() > _INT64_MAX:
        return series.astype(float)  # whylogs casts to int64, which would wrap to negative
    return series


def check_column_names(df: pd.DataFrame) -> None:
    """Profiles key columns by name: two columns of one name cannot both be profiled."""
    names = [str(name) for name in df.columns]
    duplicated = sorted(name for name, times in Counter(names).items() if times > 1)
    if duplicated:
        raise ValueError(f"cannot profile a frame with duplicate column names: {duplicated}")


def _whylogs_ready(df: pd.DataFrame) -> pd.DataFrame:
    check_column_names(df)
    columns = {str(name): _whylogs_ready_column(series) for name, series in df.items()}
    return pd.DataFrame(columns, index=df.index)


def _new_profile(
    dataset_timestamp: datetime | None, schema: DeclarativeSchema | None = None
) -> DatasetProfile:
    """whylogs' own profile with its column preprocessing vectorised (see ``fast``)."""
    vectorised = WHYLOGS_VERSION == fast.PATCHED_WHYLOGS
    profile_class = fast.FastDatasetProfile if vectorised else DatasetProfile
    return profile_class(schema=schema or _uniform_schema(), dataset_timestamp=dataset_timestamp)


def profile_here(
    df: pd.DataFrame,
    dataset_timestamp: datetime | None = None,
    numeric_only: Collection[str] = (),
) -> DatasetProfileView:
    """Profile one frame in one pass in this process (``dataset_timestamp`` defaults to now);
    ``numeric_only`` columns get no frequent items (see ``_schema``)."""
    ready = _whylogs_ready(df)
    profile = _new_profile(dataset_timestamp, _schema(list(ready.columns), numeric_only))
    profile.track(pandas=ready)
    return profile.view()
