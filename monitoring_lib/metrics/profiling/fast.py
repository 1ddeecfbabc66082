"""whylogs 1.6.4 column profiling without its per-value Python calls; same values, same sketches.

whylogs sorts a pandas column into numbers, strings and other objects in
``PreprocessedColumn._pandas_split``, which calls ``Series.apply`` with a Python lambda up to seven
times per value (an ``isinf`` per float, six type masks per object). Its ``DistributionMetric``
then runs ``statistics.mean`` and ``statistics.variance`` (exact fractions) over booleans expanded
to lists of ones and zeros. Together these are nearly all of a profile's time.

:func:`preprocess` builds the very ``PreprocessedColumn`` whylogs builds (same counts, same arrays
in the same order) with array operations and one decision per distinct Python type, and falls
back to whylogs' own ``PreprocessedColumn.apply`` for dtypes it does not cover (datetimes,
categoricals, complex ...). :class:`FastDatasetProfile` is a ``DatasetProfile`` whose column
profiles use it and update a boolean column's distribution with the same sketch calls and the same
parallel-variance merges as whylogs, minus the exact-fraction statistics. The metrics themselves,
their sketches and the serialised format are whylogs' own, so profiles read and merge as before
and ``profiling.PROFILE_FORMAT`` is unchanged. Nothing in whylogs is patched: only profiles made
through this class take the fast path.

The subclasses override whylogs internals (``_initialize_new_columns``,
``_process_extracted_column``) of release 1.6.4, the last one; :data:`PATCHED_WHYLOGS` names it
and ``profiling.single`` uses plain whylogs under any other version.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pandas.core.dtypes.common as pdc

from monitoring_lib.metrics.profiling.whylogs_api import (
    BOOL_LIST_CHUNK_SIZE,
    ColumnProfile,
    DatasetProfile,
    DistributionMetric,
    NumpyView,
    OperationResult,
    PreprocessedColumn,
    VarianceM2Result,
    parallel_variance_m2,
    welford_online_variance_m2,
)

PATCHED_WHYLOGS = "1.6.4"
"""The whylogs release whose ``PreprocessedColumn`` and metrics this module reproduces."""

_TEXT_BLOCK = 8192
"""Strings checked for UTF-8 at once: bounds the joined copy of a column of huge strings."""


# --- text whylogs' C++ sketches accept ------------------------------------------------------


def clean_text_value(value: object) -> object:
    """Text whylogs' C++ sketches accept: bytes decoded, lone surrogates escaped."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return value


def _encodes_as_utf8(texts: list[str]) -> bool:
    joined = "".join(texts)
    if joined.isascii():  # O(1): CPython keeps an ASCII flag on every string
        return True
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(values: pd.Series) -> pd.Series:
    """:func:`clean_text_value` of every cell, checking whole blocks of strings at once.

    ``values`` is an object column whose missing cells are None. Only a column holding bytes or
    non-text, or a block holding a lone surrogate, is cleaned value by value.
    """
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return values.map(clean_text_value)
    cells = values.to_numpy(dtype=object)
    present = values.notna().to_numpy()
    cleaned: np.ndarray | None = None
    for start in range(0, len(cells), _TEXT_BLOCK):
        block = slice(start, start + _TEXT_BLOCK)
        if _encodes_as_utf8(cells[block][present[block]].tolist()):
            continue
        cleaned = cells.copy() if cleaned is None else cleaned
        cleaned[block] = [clean_text_value(cell) for cell in cells[block]]
    if cleaned is None:
        return values
    return pd.Series(cleaned, index=values.index, name=values.name, dtype=object)


# --- PreprocessedColumn, vectorised ------------------------------------------------------------

_TypeTest = Callable[[Any], bool]
_IS_FLOAT: _TypeTest = lambda x: bool(pdc.is_float(x) or pdc.is_decimal(x))  # noqa: E731
_IS_BOOL: _TypeTest = lambda x: bool(pdc.is_bool(x))  # noqa: E731
_IS_INT: _TypeTest = lambda x: bool(  # noqa: E731
    pdc.is_number(x) and pdc.is_integer(x) and not pdc.is_bool(x)
)
_IS_STR: _TypeTest = lambda x: isinstance(x, str)  # noqa: E731
_IS_ARRAY: _TypeTest = lambda x: isinstance(x, list | np.ndarray)  # noqa: E731
_IS_NUMBER: _TypeTest = lambda x: bool(pdc.is_number(x))  # noqa: E731


def _type_masks(values: np.ndarray, tests: tuple[_TypeTest, ...]) -> list[np.ndarray]:
    """Each test's verdict per value, asked once per distinct type.

    whylogs' masks (``pdc.is_float``, ``is_bool``, ``is_integer``, ``is_number``, ``isinstance``)
    depend on a value's type alone, so one representative answers for every value of its type.
    """
    codes, _ = pd.factorize(np.fromiter(map(type, values), dtype=object, count=len(values)))
    _, first = np.unique(codes, return_index=True)
    return [np.array([test(values[i]) for i in first], dtype=bool)[codes] for test in tests]


def _masked_nulls_are_numbers(series: pd.Series, missing: np.ndarray) -> bool:
    """whylogs' ``is_number`` on a missing cell of a numeric or extension dtype.

    Such a dtype writes every missing cell alike (NaN, or pd.NA that ``apply`` may turn into
    NaN), so the first one answers for all, through the very ``apply`` whylogs calls.
    """
    first = series[missing].iloc[:1]
    return bool(first.apply(lambda x: pdc.is_number(x)).iloc[0])


def _split_numbers(series: pd.Series, missing: np.ndarray) -> PreprocessedColumn:
    """An int or float column (NumPy or nullable): the arrays whylogs makes, NaN and inf counted."""
    result = PreprocessedColumn()
    result.null_count = int(missing.sum())
    if result.null_count and _masked_nulls_are_numbers(series, missing):
        result.nan_count = result.null_count
    present = series[~missing] if result.null_count else series
    if pdc.is_float_dtype(series.dtype):
        floats = present.astype(float).to_numpy()
        result.inf_count = int(np.count_nonzero(np.isinf(floats)))
        result.numpy.floats = floats
    else:
        result.numpy.ints = present.astype(int).to_numpy()
    return result


def _tensors(candidates: np.ndarray) -> tuple[np.ndarray, pd.Series]:
    """Which lists and arrays whylogs counts as tensors (it asks per value), and them as arrays."""
    tensorable = np.array([PreprocessedColumn._is_tensorable(x) for x in candidates], dtype=bool)
    arrays = [x if isinstance(x, np.ndarray) else np.asarray(x) for x in candidates[tensorable]]
    return tensorable, pd.Series(arrays, dtype="object")


def _split_objects(result: PreprocessedColumn, present: np.ndarray) -> None:
    """Sort non-missing Python objects as whylogs' six masks do: floats, ints, bools, text..."""
    if pd.api.types.infer_dtype(present, skipna=False) == "string":
        result.numpy = NumpyView(floats=np.empty(0), ints=np.empty(0, dtype=int))
        result.pandas.strings = pd.Series(present, dtype=object, copy=False)
        result.pandas.tensors = pd.Series([], dtype=object)
        result.pandas.objs = pd.Series([], dtype=object)
        return
    floats, bools, ints, strings, arrays = _type_masks(
        present, (_IS_FLOAT, _IS_BOOL, _IS_INT, _IS_STR, _IS_ARRAY)
    )
    tensors = np.zeros(len(present), dtype=bool)
    tensors[arrays], result.pandas.tensors = _tensors(present[arrays])
    float_values = pd.Series(present[floats], dtype=object).astype(float).to_numpy()
    int_values = np.empty(0, dtype=int)
    if ints.any():
        int_values = pd.Series(present[ints], dtype=object).astype(int).to_numpy()
    result.numpy = NumpyView(floats=float_values, ints=int_values)
    result.inf_count = int(np.count_nonzero(np.isinf(float_values)))
    result.bool_count = int(np.count_nonzero(bools))
    result.bool_count_where_true = int(np.count_nonzero(present[bools].astype(bool)))
    result.pandas.strings = pd.Series(present[strings], dtype=object)
    result.pandas.objs = pd.Series(present[~(floats | strings | ints | bools | tensors)])


def _split_other(series: pd.Series, missing: np.ndarray) -> PreprocessedColumn:
    """An object, string or boolean column: nulls, NaN among them, then the values by type."""
    result = PreprocessedColumn()
    result.null_count = int(missing.sum())
    if result.null_count and series.dtype == object:
        nulls = series.to_numpy()[missing]
        result.nan_count = int(np.count_nonzero(_type_masks(nulls, (_IS_NUMBER,))[0]))
    elif result.null_count and _masked_nulls_are_numbers(series, missing):
        result.nan_count = result.null_count
    if result.null_count == len(series):
        return result
    if issubclass(series.dtype.type, str):
        result.pandas.strings = series[~missing]
        return result
    present = series.to_numpy(dtype=object)[~missing]
    _split_objects(result, present)
    return result


_COVERED_EXTENSIONS = (
    pd.BooleanDtype,
    pd.StringDtype,
    pd.Float32Dtype,
    pd.Float64Dtype,
    pd.Int8Dtype,
    pd.Int16Dtype,
    pd.Int32Dtype,
    pd.Int64Dtype,
    pd.UInt8Dtype,
    pd.UInt16Dtype,
    pd.UInt32Dtype,
    pd.UInt64Dtype,
)


def _covered(dtype: Any) -> bool:
    """dtypes :func:`preprocess` reproduces; whylogs' own code handles the rest."""
    if isinstance(dtype, np.dtype):
        return dtype.kind in "biufO"  # bool, ints, floats, Python objects
    return isinstance(dtype, _COVERED_EXTENSIONS)


def _is_datetime(dtype: Any) -> bool:
    return isinstance(dtype, pd.DatetimeTZDtype) or (
        isinstance(dtype, np.dtype) and dtype.kind == "M"
    )


def _split_datetimes(series: pd.Series, missing: np.ndarray) -> PreprocessedColumn | None:
    """A datetime column: whylogs' six per-value masks are all False on a Timestamp, so every
    present value is an ``objs`` value (a window's timestamps cost ~4 s a 100k rows that way).
    None when a missing value counts as a number to whylogs, which this does not reproduce."""
    result = PreprocessedColumn()
    result.null_count = int(missing.sum())
    if result.null_count and _masked_nulls_are_numbers(series, missing):
        return None
    present = series[~missing]
    if present.empty:
        return result
    nothing = np.zeros(len(present), dtype=bool)
    result.numpy = NumpyView(floats=present[nothing].to_numpy(), ints=np.empty(0, dtype=int))
    result.pandas.strings = present[nothing]
    result.pandas.tensors = pd.Series([], dtype="object")
    result.pandas.objs = present
    return result


def preprocess(series: pd.Series) -> PreprocessedColumn:
    """What ``PreprocessedColumn.apply(series)`` returns, computed with array operations."""
    if _is_datetime(series.dtype):
        dates = _split_datetimes(series, series.isna().to_numpy(dtype=bool))
        if dates is not None:
            dates.original, dates.len = series, len(series)
            return dates
        return PreprocessedColumn.apply(series)
    if not _covered(series.dtype):
        return PreprocessedColumn.apply(series)
    missing = series.isna().to_numpy(dtype=bool)
    if pdc.is_numeric_dtype(series.dtype) and not pdc.is_bool_dtype(series.dtype):
        result = _split_numbers(series, missing)
    else:
        result = _split_other(series, missing)
    result.original, result.len = series, len(series)
    return result


# --- profiles ----------------------------------------------------------------------------------


def _bool_chunks(count: int) -> Iterator[int]:
    while count > 0:
        yield min(count, BOOL_LIST_CHUNK_SIZE)
        count -= BOOL_LIST_CHUNK_SIZE


def _update_distribution(metric: DistributionMetric, column: PreprocessedColumn) -> OperationResult:
    """``DistributionMetric.columnar_update`` with booleans merged without ``statistics``.

    whylogs feeds each chunk of 1000 ones (then zeros) to the KLL sketch and merges the chunk's
    mean and M2 (``statistics.mean`` = the value, ``statistics.variance`` = 0) into the running
    ones; this makes the same sketch calls and the same merges with those two numbers.
    """
    numbers = copy.copy(column)
    numbers.bool_count = numbers.bool_count_where_true = 0
    result = metric.columnar_update(numbers)
    state = VarianceM2Result(n=metric.kll.value.get_n(), mean=metric.mean.value, m2=metric.m2.value)
    falses = column.bool_count - column.bool_count_where_true
    for value, count in ((1, column.bool_count_where_true), (0, falses)):
        for size in _bool_chunks(count):
            metric.kll.value.update_list(num_items=[value] * size)
            if size > 1:
                chunk = VarianceM2Result(n=size, mean=value, m2=0)
                state = parallel_variance_m2(first=state, second=chunk)
            else:
                state = welford_online_variance_m2(existing=state, new_value=value)
    metric.mean.set(state.mean)
    metric.m2.set(state.m2)
    return result


class FastColumnProfile(ColumnProfile):  # type: ignore[misc]  # whylogs ships no type hints
    """A whylogs column profile fed by :func:`preprocess`."""

    def track_column(self, series: Any, identity_values: Any | None = None) -> None:
        self._validate(series, identity_values)
        is_series = isinstance(series, pd.Series)
        column = preprocess(series) if is_series else PreprocessedColumn.apply(series)
        self._process_extracted_column(column)

    def _process_extracted_column(self, extracted_column: PreprocessedColumn) -> None:
        for metric in self._metrics.values():
            if isinstance(metric, DistributionMetric) and extracted_column.bool_count > 0:
                result = _update_distribution(metric, extracted_column)
            else:
                result = metric.columnar_update(extracted_column)
            self._failure_count += result.failures
            self._success_count += result.successes


class FastDatasetProfile(DatasetProfile):  # type: ignore[misc]  # whylogs ships no type hints
    """A whylogs ``DatasetProfile`` whose columns are :class:`FastColumnProfile`."""

    def _initialize_new_columns(self, new_cols: tuple[str, ...]) -> None:
        for name in new_cols:
            schema = self._schema.get(name)
            if schema:
                cache = self._schema.cache_size
                self._columns[name] = FastColumnProfile(name=name, schema=schema, cache_size=cache)
