"""whylogs profiles of a window: profile (in this process or across worker processes), merge,
store, hash, and cache the reference's.

Profiles are mergeable sketches, so a window can be profiled chunk by chunk (memory follows the
chunk, not the window) and daily profiles roll up to weeks without the raw rows.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import datetime
from functools import reduce
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring_lib.metrics.profiling.single import profile_here
from monitoring_lib.metrics.profiling.whylogs_api import DatasetProfileView, DeserializationError
from monitoring_lib.metrics.profiling.workers import ColumnGroupProfiler

PROFILE_FORMAT = "whylogs-1.6.4/uniform-metrics-v1"
"""Part of the reference cache key: changing how profiles are built must invalidate the cache."""


def profile_frame(
    df: pd.DataFrame,
    *,
    dataset_timestamp: datetime | None = None,
    workers: int = 1,
    numeric_only: Collection[str] = (),
) -> DatasetProfileView:
    """Profile one frame in a single pass.

    ``dataset_timestamp`` (timezone-aware) dates the profile; it defaults to now. ``workers > 1``
    spreads a large frame's columns over that many processes (see ``workers``). ``numeric_only``
    columns (numerical and not categorical in the spec) get no frequent items.
    """
    if workers != 1:
        with ColumnGroupProfiler(workers, numeric_only=numeric_only) as profiler:
            return profiler.profile(df, dataset_timestamp)
    return profile_here(df, dataset_timestamp, numeric_only)


def merge_views(views: Iterable[DatasetProfileView]) -> DatasetProfileView:
    """Merge profiles (chunks of a window, or days of a week); no views gives an empty profile."""
    return reduce(lambda merged, view: merged.merge(view), views, DatasetProfileView.zero())


def iter_frame_chunks(df: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Row slices of ``df`` of at most ``chunk_rows`` rows each."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    for start in range(0, len(df), chunk_rows):
        yield df.iloc[start : start + chunk_rows]


def profile_chunks(
    chunks: Iterable[pd.DataFrame], *, workers: int = 1, numeric_only: Collection[str] = ()
) -> DatasetProfileView:
    """Profile a window chunk by chunk and merge, so peak memory follows the chunk size.

    ``workers > 1`` spreads each large chunk's columns over that many processes, this one
    included, sharing one pool across the chunks (see ``workers``); ``numeric_only`` as for
    :func:`profile_frame`.
    """
    with ColumnGroupProfiler(workers, numeric_only=numeric_only) as profiler:
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
    df: pd.DataFrame,
    cache_dir: Path,
    *,
    content_hash: str | None = None,
    workers: int = 1,
    numeric_only: Collection[str] = (),
) -> tuple[DatasetProfileView, Path]:
    """The reference profile, computed once per distinct reference content and then reused.

    ``content_hash`` saves hashing again when the caller already has it (it keys the store row).
    An unreadable cached file is recomputed and replaced rather than failing the run.
    """
    digest = content_hash or content_hash_of_frame(df)
    return cached_reference_view_of_chunks(
        lambda: [df], cache_dir, content_hash=digest, workers=workers, numeric_only=numeric_only
    )


def cached_reference_view_of_chunks(
    chunks: Callable[[], Iterable[pd.DataFrame]],
    cache_dir: Path,
    *,
    content_hash: str,
    workers: int = 1,
    numeric_only: Collection[str] = (),
) -> tuple[DatasetProfileView, Path]:
    """:func:`cached_reference_view` for a reference read in chunks (profiled only on a miss).

    The file is keyed by the content and by the columns without frequent items, so a spec that
    makes a numerical column categorical too gets a profile with its items."""
    lean = ",".join(sorted(numeric_only))
    suffix = f"-{hashlib.sha256(lean.encode()).hexdigest()[:12]}" if lean else ""
    path = cache_dir / f"reference-{content_hash}{suffix}.bin"
    cached = _read_if_valid(path)
    if cached is not None:
        return cached, path
    view = profile_chunks(chunks(), workers=workers, numeric_only=numeric_only)
    write_view(view, path)
    return view, path


# --- summary metrics -------------------------------------------------------------------------
