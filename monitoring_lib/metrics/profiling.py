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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from functools import reduce
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

if not hasattr(np, "unicode_"):
    np.unicode_ = np.str_  # type: ignore[attr-defined]  # whylogs 1.6.4 uses np.unicode_, gone in NumPy 2

# whylogs otherwise reports usage to its servers from a background thread at import time.
os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")

from whylogs.core import DatasetProfile
from whylogs.core import DatasetProfileView as DatasetProfileView
from whylogs.core.configs import FrequentItemsErrorType as FrequentItemsErrorType
from whylogs.core.configs import SummaryConfig as SummaryConfig
from whylogs.core.constraints import MetricConstraint as MetricConstraint
from whylogs.core.constraints import factories as factories
from whylogs.core.datatypes import DataType
from whylogs.core.errors import DeserializationError
from whylogs.core.metrics import StandardMetric
from whylogs.core.metrics.metrics import FrequentItem as FrequentItem
from whylogs.core.resolvers import MetricSpec, ResolverSpec
from whylogs.core.schema import DeclarativeSchema
from whylogs.core.view.column_profile_view import ColumnProfileView as ColumnProfileView

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


def _clean_text(value: object) -> object:
    """Text whylogs' C++ sketches accept: bytes decoded, lone surrogates escaped."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return value


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
        return as_objects.map(_clean_text)
    if pd.api.types.is_float_dtype(dtype):
        return _whylogs_ready_floats(series)
    if dtype == np.uint64 and len(series) and series.max() > _INT64_MAX:
        return series.astype(float)  # whylogs casts to int64, which would wrap to negative
    return series


def _whylogs_ready(df: pd.DataFrame) -> pd.DataFrame:
    names = [str(name) for name in df.columns]
    duplicated = sorted(name for name, times in Counter(names).items() if times > 1)
    if duplicated:
        raise ValueError(f"cannot profile a frame with duplicate column names: {duplicated}")
    columns = {str(name): _whylogs_ready_column(series) for name, series in df.items()}
    return pd.DataFrame(columns, index=df.index)


def profile_frame(
    df: pd.DataFrame, *, dataset_timestamp: datetime | None = None
) -> DatasetProfileView:
    """Profile one frame in a single pass.

    ``dataset_timestamp`` (timezone-aware) dates the profile; it defaults to now.
    """
    profile = DatasetProfile(schema=_uniform_schema(), dataset_timestamp=dataset_timestamp)
    profile.track(pandas=_whylogs_ready(df))
    return profile.view()


def _profile_to_bytes(df: pd.DataFrame) -> bytes:
    """Worker-process entry point: bytes are whylogs' own format, safe to send between processes."""
    return bytes(profile_frame(df).serialize())


def merge_views(views: Iterable[DatasetProfileView]) -> DatasetProfileView:
    """Merge profiles (chunks of a window, or days of a week); no views gives an empty profile."""
    return reduce(lambda merged, view: merged.merge(view), views, DatasetProfileView.zero())


def iter_frame_chunks(df: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Row slices of ``df`` of at most ``chunk_rows`` rows each."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    for start in range(0, len(df), chunk_rows):
        yield df.iloc[start : start + chunk_rows]


def _profile_in_processes(chunks: Iterable[pd.DataFrame], workers: int) -> DatasetProfileView:
    """Profile chunks in ``workers`` processes, keeping at most two chunks per worker in flight."""
    merged = DatasetProfileView.zero()
    pending: list[Future[bytes]] = []
    # forkserver, not fork: forking a multi-threaded flow runner can deadlock. The server imports
    # whylogs (~5 s) once, so each worker starts by a cheap fork instead of a fresh interpreter.
    context = get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for chunk in chunks:
            pending.append(pool.submit(_profile_to_bytes, chunk))
            if len(pending) >= 2 * workers:
                merged = merged.merge(DatasetProfileView.deserialize(pending.pop(0).result()))
        for future in pending:
            merged = merged.merge(DatasetProfileView.deserialize(future.result()))
    return merged


def profile_chunks(chunks: Iterable[pd.DataFrame], *, workers: int = 1) -> DatasetProfileView:
    """Profile a window chunk by chunk and merge, so peak memory follows the chunk size.

    ``workers > 1`` profiles chunks in that many processes (profiling costs about 1 us per cell;
    a merge costs milliseconds), which pays off once a window has millions of cells.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers == 1:
        return merge_views(profile_frame(chunk) for chunk in chunks)
    return _profile_in_processes(chunks, workers)


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
    df: pd.DataFrame, cache_dir: Path, *, content_hash: str | None = None
) -> tuple[DatasetProfileView, Path]:
    """The reference profile, computed once per distinct reference content and then reused.

    ``content_hash`` saves hashing again when the caller already has it (it keys the store row).
    An unreadable cached file is recomputed and replaced rather than failing the run.
    """
    digest = content_hash or content_hash_of_frame(df)
    return cached_reference_view_of_chunks(lambda: [df], cache_dir, content_hash=digest)


def cached_reference_view_of_chunks(
    chunks: Callable[[], Iterable[pd.DataFrame]], cache_dir: Path, *, content_hash: str
) -> tuple[DatasetProfileView, Path]:
    """:func:`cached_reference_view` for a reference read in chunks (profiled only on a miss)."""
    path = cache_dir / f"reference-{content_hash}.bin"
    cached = _read_if_valid(path)
    if cached is not None:
        return cached, path
    view = profile_chunks(chunks())
    write_view(view, path)
    return view, path


# --- summary metrics -------------------------------------------------------------------------
