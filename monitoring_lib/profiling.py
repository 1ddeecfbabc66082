"""whylogs profiles of a window: profile, merge, store, and read summary metrics back.

Profiles are mergeable sketches, so a window can be profiled chunk by chunk (memory follows the
chunk, not the window) and daily profiles roll up to weeks without the raw rows. This is the one
module that imports whylogs; others import ``DatasetProfileView`` from here so the NumPy-2 alias
below is always in place first.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

if not hasattr(np, "unicode_"):
    np.unicode_ = np.str_  # type: ignore[attr-defined]  # whylogs 1.6.4 uses np.unicode_, gone in NumPy 2

# whylogs otherwise reports usage to its servers from a background thread at import time.
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")

from whylogs import __version__ as whylogs_version
from whylogs.core import DatasetProfile
from whylogs.core import DatasetProfileView as DatasetProfileView
from whylogs.core.configs import FrequentItemsErrorType, SummaryConfig
from whylogs.core.constraints import MetricConstraint as MetricConstraint
from whylogs.core.constraints import factories as factories
from whylogs.core.datatypes import DataType
from whylogs.core.errors import DeserializationError
from whylogs.core.metrics import StandardMetric
from whylogs.core.metrics.metrics import FrequentItem as FrequentItem
from whylogs.core.resolvers import MetricSpec, ResolverSpec
from whylogs.core.schema import DeclarativeSchema
from whylogs.core.view.column_profile_view import ColumnProfileView as ColumnProfileView

from monitoring_lib import profile_workers, whylogs_fast  # after whylogs: they import this module
from monitoring_lib.records import DATASET, Metric, MetricRecord, MetricStatus

PROFILE_FORMAT = "whylogs-1.6.4/uniform-metrics-v1"
"""Part of the reference cache key: changing how profiles are built must invalidate the cache."""

_UNIFORM_METRICS = (
    StandardMetric.counts,
    StandardMetric.types,
    StandardMetric.distribution,
    StandardMetric.cardinality,
    StandardMetric.frequent_items,
)
_INT64_MAX = np.iinfo(np.int64).max
_EXACT_FLOAT_INT = 2.0**53


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
        return whylogs_fast.clean_text(as_objects)  # bytes decoded, lone surrogates escaped
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


def _new_profile(dataset_timestamp: datetime | None) -> DatasetProfile:
    """whylogs' own profile with its column preprocessing vectorised (see whylogs_fast)."""
    fast = whylogs_version == whylogs_fast.PATCHED_WHYLOGS
    profile_class = whylogs_fast.FastDatasetProfile if fast else DatasetProfile
    return profile_class(schema=_uniform_schema(), dataset_timestamp=dataset_timestamp)


def profile_frame(
    df: pd.DataFrame, *, dataset_timestamp: datetime | None = None, workers: int = 1
) -> DatasetProfileView:
    """Profile one frame in a single pass.

    ``dataset_timestamp`` (timezone-aware) dates the profile; it defaults to now. ``workers > 1``
    spreads a large frame's columns over that many processes (see profile_workers).
    """
    if workers != 1:
        with profile_workers.ColumnGroupProfiler(workers) as profiler:
            return profiler.profile(df, dataset_timestamp)
    profile = _new_profile(dataset_timestamp)
    profile.track(pandas=_whylogs_ready(df))
    return profile.view()


def merge_views(views: Iterable[DatasetProfileView]) -> DatasetProfileView:
    """Merge profiles (chunks of a window, or days of a week); no views gives an empty profile."""
    return reduce(lambda merged, view: merged.merge(view), views, DatasetProfileView.zero())


def iter_frame_chunks(df: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Row slices of ``df`` of at most ``chunk_rows`` rows each."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    for start in range(0, len(df), chunk_rows):
        yield df.iloc[start : start + chunk_rows]


def profile_chunks(chunks: Iterable[pd.DataFrame], *, workers: int = 1) -> DatasetProfileView:
    """Profile a window chunk by chunk and merge, so peak memory follows the chunk size.

    ``workers > 1`` spreads each large chunk's columns over that many processes, this one
    included, sharing one pool across the chunks (see profile_workers).
    """
    with profile_workers.ColumnGroupProfiler(workers) as profiler:
        return merge_views(profiler.profile(chunk) for chunk in chunks)


def write_view(view: DatasetProfileView, path: Path) -> Path:
    """Write a profile atomically (temp file + rename): readers never see half a profile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("wb") as out:
            out.write(view.serialize())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_view(path: Path) -> DatasetProfileView:
    """Read a profile written by ``write_view``; a file that is not one raises ``ValueError``."""
    try:
        return DatasetProfileView.read(str(path))
    except (DeserializationError, ValueError, EOFError) as error:
        raise ValueError(f"{path} is not a readable whylogs profile: {error}") from error


def _column_hashes(series: pd.Series) -> bytes:
    try:
        return bytes(pd.util.hash_pandas_object(series, index=False).to_numpy().tobytes())
    except (TypeError, ValueError, UnicodeError):
        # Unhashable cells (lists, dicts) or text pandas cannot encode: hash their repr instead.
        return "".join(f"{value!r}\x1f" for value in series.tolist()).encode("utf-8", "replace")


def content_hash_of_chunks(chunks: Iterable[pd.DataFrame]) -> tuple[str, int]:
    """SHA-256 of column names, dtypes and values in row order, and the row count.

    The same rows give the same hash however they are split into chunks (of rows, or of
    columns read one group after another), so a reference read whole and one read in chunks
    share one cached profile. The profile format is part of the
    key, so a change in how profiles are built is a cache miss.
    """
    columns: dict[str, tuple[str, Any]] = {}
    column_rows: dict[str, int] = {}
    for chunk in chunks:
        for name, series in chunk.items():
            key = str(name)
            if key not in columns:
                columns[key] = (str(series.dtype), hashlib.sha256())
            columns[key][1].update(_column_hashes(series))
            column_rows[key] = column_rows.get(key, 0) + len(series)
    rows = max(column_rows.values(), default=0)
    digest = hashlib.sha256(PROFILE_FORMAT.encode())
    for name, (dtype, column_digest) in columns.items():
        digest.update(f"\x1e{name}\x1f{dtype}\x1f{rows}\x1f".encode())
        digest.update(column_digest.digest())
    return digest.hexdigest(), rows


def content_hash_of_frame(df: pd.DataFrame) -> str:
    """:func:`content_hash_of_chunks` of a whole frame (the index is ignored)."""
    return content_hash_of_chunks([df])[0]


def _read_if_valid(path: Path) -> DatasetProfileView | None:
    """A cached profile, or None when absent or unreadable (truncated, foreign): then rebuild."""
    if not path.is_file():
        return None
    try:
        return read_view(path)
    except ValueError:
        return None


def cached_reference_view(
    df: pd.DataFrame, cache_dir: Path, *, content_hash: str | None = None, workers: int = 1
) -> tuple[DatasetProfileView, Path]:
    """The reference profile, computed once per distinct reference content and then reused.

    ``content_hash`` saves hashing again when the caller already has it (it keys the store row).
    An unreadable cached file is recomputed and replaced rather than failing the run.
    """
    digest = content_hash or content_hash_of_frame(df)
    return cached_reference_view_of_chunks(
        lambda: [df], cache_dir, content_hash=digest, workers=workers
    )


def cached_reference_view_of_chunks(
    chunks: Callable[[], Iterable[pd.DataFrame]],
    cache_dir: Path,
    *,
    content_hash: str,
    workers: int = 1,
) -> tuple[DatasetProfileView, Path]:
    """:func:`cached_reference_view` for a reference read in chunks (profiled only on a miss)."""
    path = cache_dir / f"reference-{content_hash}.bin"
    cached = _read_if_valid(path)
    if cached is not None:
        return cached, path
    view = profile_chunks(chunks(), workers=workers)
    write_view(view, path)
    return view, path


# --- summary metrics -------------------------------------------------------------------------

_QUANTILES = (
    (Metric.PROFILE_Q01, 0.01),
    (Metric.PROFILE_Q25, 0.25),
    (Metric.PROFILE_Q50, 0.50),
    (Metric.PROFILE_Q75, 0.75),
    (Metric.PROFILE_Q99, 0.99),
)
_NUMERIC_METRICS = (
    Metric.PROFILE_MEAN,
    Metric.PROFILE_STD,
    Metric.PROFILE_MIN,
    Metric.PROFILE_MAX,
    *(metric for metric, _ in _QUANTILES),
)
_COMMON_METRICS = (Metric.PROFILE_COUNT, Metric.PROFILE_NULL_FRACTION, Metric.PROFILE_CARDINALITY)


def frequent_items_of(column: ColumnProfileView) -> tuple[list[FrequentItem], bool]:
    """A column's frequent items, most frequent first, and whether the list is exact.

    Exact means every distinct value is listed with its true count: the sketch holds up to 768
    distinct values (``fi_lg_max_k=10``) before it starts estimating and dropping rare ones.
    """
    metric = column.get_metric("frequent_items")
    if metric is None or metric.frequent_strings.value.is_empty():
        return [], True
    no_false_negatives = SummaryConfig(
        frequent_items_error_type=FrequentItemsErrorType.NO_FALSE_NEGATIVES
    )
    candidates = metric.to_summary_dict(no_false_negatives)["frequent_strings"]
    exact = all(item.lower == item.upper for item in candidates)
    if exact:
        return list(candidates), True
    return list(metric.to_summary_dict(SummaryConfig())["frequent_strings"]), False


@dataclass(frozen=True, slots=True)
class _Recorder:
    """Builds one column's records, so each call site states only the metric and the value."""

    column: str
    segment: str

    def __call__(
        self,
        metric: Metric,
        value: float | None,
        status: MetricStatus = MetricStatus.OK,
        **details: Any,
    ) -> MetricRecord:
        number = None if value is None else float(value)
        return MetricRecord(metric, number, status, self.column, self.segment, details)

    def lacking(self, metric: Metric, reason: str) -> MetricRecord:
        return self(metric, None, MetricStatus.INSUFFICIENT_DATA, reason=reason)


def _no_values_reason(column: ColumnProfileView, sketched: str) -> str:
    counts = column.get_metric("counts")
    if counts.n.value == 0:
        return "the window has no rows"
    if counts.null.value == counts.n.value:
        return "every value is missing"
    return f"no value is {sketched}"


def _count_records(
    column: ColumnProfileView, rec: _Recorder, numerical: bool
) -> list[MetricRecord]:
    counts, types = column.get_metric("counts"), column.get_metric("types")
    n, null = int(counts.n.value), int(counts.null.value)
    non_numeric = int(types.string.value + types.object.value + types.tensor.value)
    if numerical and non_numeric:
        reason = f"{non_numeric} of {n} values are not numbers; numeric statistics ignore them"
        count = rec(
            Metric.PROFILE_COUNT,
            n,
            MetricStatus.WARNING,
            null=null,
            non_numeric=non_numeric,
            reason=reason,
        )
    else:
        count = rec(Metric.PROFILE_COUNT, n, null=null)
    if n == 0:
        return [count, rec.lacking(Metric.PROFILE_NULL_FRACTION, "the window has no rows")]
    return [count, rec(Metric.PROFILE_NULL_FRACTION, null / n, null=null, n=n)]


def _numeric_records(column: ColumnProfileView, rec: _Recorder) -> list[MetricRecord]:
    dist = column.get_metric("distribution")
    if dist is None or dist.n == 0:
        reason = _no_values_reason(column, "a number")
        return [rec.lacking(metric, reason) for metric in _NUMERIC_METRICS]
    n, exact = int(dist.n), not dist.kll.value.is_estimation_mode()
    if n < 2:
        std = rec.lacking(Metric.PROFILE_STD, "one value has no spread")
    else:
        std = rec(Metric.PROFILE_STD, dist.stddev, n=n)
    records = [rec(Metric.PROFILE_MEAN, dist.avg, n=n), std]
    records += [rec(Metric.PROFILE_MIN, dist.min), rec(Metric.PROFILE_MAX, dist.max)]
    records += [rec(metric, dist.get_quantile(q), exact=exact) for metric, q in _QUANTILES]
    return records


def _cardinality_record(column: ColumnProfileView, rec: _Recorder) -> MetricRecord:
    hll = column.get_metric("cardinality")
    if hll is None or hll.estimate is None:
        reason = _no_values_reason(column, "a number, string or boolean")
        return rec.lacking(Metric.PROFILE_CARDINALITY, reason)
    return rec(Metric.PROFILE_CARDINALITY, hll.estimate, lower=hll.lower_1, upper=hll.upper_1)


def _frequent_items_record(column: ColumnProfileView, rec: _Recorder, top: int) -> MetricRecord:
    items, exact = frequent_items_of(column)
    if not items and exact:
        reason = _no_values_reason(column, "a number, string or boolean")
        return rec.lacking(Metric.PROFILE_FREQUENT_ITEMS, reason)
    listed = [
        {"value": i.value, "estimate": i.est, "lower": i.lower, "upper": i.upper} for i in items
    ]
    return rec(Metric.PROFILE_FREQUENT_ITEMS, len(items), items=listed[:top], exact=exact)


def summary_records(
    view: DatasetProfileView,
    *,
    numerical: Collection[str],
    categorical: Collection[str],
    segment: str = DATASET,
    top_items: int = 10,
) -> list[MetricRecord]:
    """Per-column summary metrics read from a profile by metric name.

    A listed column the profile lacks gets SKIPPED records (the schema check says why); a column
    without values gets INSUFFICIENT_DATA with a reason, never a NaN.
    """
    records: list[MetricRecord] = []
    for name in dict.fromkeys([*numerical, *categorical]):
        rec, column = _Recorder(name, segment), view.get_column(name)
        if column is None:
            metrics = [*_COMMON_METRICS, *(_NUMERIC_METRICS if name in numerical else ())]
            metrics += [Metric.PROFILE_FREQUENT_ITEMS] if name in categorical else []
            reason = "the column is not in the profile"
            records += [rec(m, None, MetricStatus.SKIPPED, reason=reason) for m in metrics]
            continue
        records += _count_records(column, rec, name in numerical)
        records.append(_cardinality_record(column, rec))
        records += _numeric_records(column, rec) if name in numerical else []
        records += [_frequent_items_record(column, rec, top_items)] if name in categorical else []
    return records
