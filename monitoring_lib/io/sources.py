"""Read a monitor's sources: files (parquet or CSV, globbed) or a SQL query.

Every error names the source role, the file (or query) and the column, because the person reading
it is looking at a spec and a folder of files, not at a pandas traceback.
"""

from __future__ import annotations

import glob
import mmap
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from monitoring_lib.errors import DeterministicError
from monitoring_lib.io.csv_cache import cacheable, parsed_csv
from monitoring_lib.settings import environment_secret, safe_url
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.spec.sources import FileSource, Source, SqlSource
from monitoring_lib.windows import Window

DEFAULT_CHUNK_ROWS = 250_000
HEADER = "driftwise_header"
"""``DataFrame.attrs`` key of a chunk's source header: every column of its file (or query) and
dtype ('' when not read), including the ones the chunk does not carry."""


class SourceError(DeterministicError, ValueError):
    """A source that cannot be read as the spec says."""


@dataclass(frozen=True, slots=True)
class TimeFilter:
    """Keep rows whose ``column`` falls in [start, end); naive values are read in ``naive_zone``."""

    column: str
    start: datetime
    end: datetime
    naive_zone: str


def describe(source: Source, base_dir: Path) -> str:
    if isinstance(source, FileSource):
        return str(_absolute(source.path, base_dir))
    return "SQL query " + " ".join(source.query.split())[:80]


def _absolute(pattern: str, base_dir: Path) -> Path:
    path = Path(pattern).expanduser()
    return path if path.is_absolute() else base_dir / path


def resolve_files(source: FileSource, base_dir: Path, role: str) -> list[Path]:
    """The files a file source names, sorted; an error when none match."""
    pattern = _absolute(source.path, base_dir)
    files = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file())
    if not files:
        raise SourceError(
            f"{role} source: no file matches '{source.path}' (looked for {pattern}); fix "
            f"sources.{role}.path in the spec (relative to the spec's folder) or add the files"
        )
    return files


def _file_format(source: FileSource, path: Path) -> str:
    if source.format != "auto":
        return source.format
    suffixes = "".join(path.suffixes).lower()
    if ".parquet" in suffixes or suffixes.endswith(".pq"):
        return "parquet"
    if ".csv" in suffixes:
        return "csv"
    raise SourceError(
        f"cannot tell the format of {path}: name it *.parquet or *.csv, or set format"
    )


def _sql_url(source: SqlSource) -> str:
    if source.url is not None:
        return source.url.get_secret_value()
    value = environment_secret(source.url_env or "")
    if value is None:
        raise SourceError(f"SQL source: environment variable {source.url_env} is not set")
    return value


def source_columns(source: Source, base_dir: Path, role: str) -> dict[str, list[str]]:
    """Column names per file (or for the query), without reading rows."""
    if isinstance(source, SqlSource):
        frame = next(_iter_sql(source, None, chunk_rows=1, limit_zero=True))
        return {describe(source, base_dir): list(frame.columns)}
    found = {}
    for path in resolve_files(source, base_dir, role):
        if _file_format(source, path) == "parquet":
            found[str(path)] = list(pads.dataset(path, format="parquet").schema.names)
        else:
            found[str(path)] = list(pd.read_csv(path, nrows=0, encoding_errors="replace").columns)
    return found


def iter_source(
    source: Source,
    base_dir: Path,
    role: str,
    *,
    columns: Sequence[str] | None = None,
    time_filter: TimeFilter | None = None,
    id_filter: tuple[str, Sequence[Any]] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    header: dict[str, str] | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield the source's rows in chunks of at most ``chunk_rows``, time-filtered if asked.

    Timestamps of the filter column come out as UTC-aware. Only ``columns`` are read (those
    missing from a file are simply absent from its chunks; callers decide if that is an error).
    ``id_filter`` (column, values) keeps only those ids; parquet files skip what they can.
    ``header`` collects every column (and dtype, '' when not read) of the files or query that
    gave rows, read or not: the schema check sees extra and renamed columns from it.
    """
    if isinstance(source, SqlSource):
        chunks = _iter_sql(source, time_filter, chunk_rows=chunk_rows)
    else:
        chunks = _iter_files(source, base_dir, role, columns, time_filter, id_filter, chunk_rows)
    for chunk in chunks:
        names = {**chunk.attrs.pop(HEADER, {}), **{str(c): str(t) for c, t in chunk.dtypes.items()}}
        if columns is not None:
            chunk = chunk[[c for c in columns if c in chunk.columns]]
        if time_filter is not None:
            chunk = _apply_time_filter(chunk, time_filter, role)
        if id_filter is not None and id_filter[0] in chunk.columns:
            chunk = chunk[chunk[id_filter[0]].isin(id_filter[1])]
        if header is not None and len(chunk):
            for name, dtype in names.items():
                header.setdefault(name, dtype)
        yield chunk.reset_index(drop=True)


def count_rows(
    source: Source,
    base_dir: Path,
    role: str,
    *,
    columns: Sequence[str],
    time_filter: TimeFilter | None = None,
) -> int:
    """Rows of a source (inside the window, if filtered), reading as little as the format allows.

    Parquet answers from its metadata (and the timestamp column, when filtered); other sources
    are read through ``columns`` only (the timestamp column must be among them when filtered).
    """
    if isinstance(source, FileSource):
        files = resolve_files(source, base_dir, role)
        if all(_file_format(source, p) == "parquet" for p in files):
            dataset = pads.dataset([str(p) for p in files], format="parquet")
            if time_filter is None:
                return int(dataset.count_rows())
            expression = _parquet_filter(dataset.schema, time_filter)
            if expression is not None:
                return int(dataset.count_rows(filter=expression))
    chunks = iter_source(source, base_dir, role, columns=columns, time_filter=time_filter)
    return sum(len(chunk) for chunk in chunks)


def _iter_files(
    source: FileSource,
    base_dir: Path,
    role: str,
    columns: Sequence[str] | None,
    time_filter: TimeFilter | None,
    id_filter: tuple[str, Sequence[Any]] | None,
    chunk_rows: int,
) -> Iterator[pd.DataFrame]:
    files = resolve_files(source, base_dir, role)
    parquet = [p for p in files if _file_format(source, p) == "parquet"]
    if parquet:
        yield from _iter_parquet(parquet, columns, time_filter, id_filter, chunk_rows)
    for path in files:
        if path not in parquet:
            yield from _iter_csv(path, columns, chunk_rows)


def _iter_parquet(
    paths: list[Path],
    columns: Sequence[str] | None,
    time_filter: TimeFilter | None,
    id_filter: tuple[str, Sequence[Any]] | None,
    chunk_rows: int,
) -> Iterator[pd.DataFrame]:
    """All files as one dataset, so the filters prune whole files and row groups by their
    statistics instead of opening and scanning every daily file for every window."""
    dataset = pads.dataset([str(p) for p in paths], format="parquet")
    names = dataset.schema.names
    wanted = [c for c in columns if c in names] if columns is not None else None
    expression = _parquet_filter(dataset.schema, time_filter) if time_filter else None
    filtered_on = {time_filter.column} if expression is not None and time_filter else set()
    if id_filter is not None and id_filter[0] in names:
        filtered_on.add(id_filter[0])
        ids = pads.field(id_filter[0]).isin(
            pa.array(list(id_filter[1])).cast(dataset.schema.field(id_filter[0]).type, safe=False)
        )
        expression = ids if expression is None else expression & ids
    # One row group at a time: Arrow's batch scanners (Dataset.to_batches, even with no
    # read-ahead, and ParquetFile.iter_batches) kept allocating as they went, ~1.5 GB over a
    # 10M-row file, so peak memory grew with the window instead of following the chunk size.
    for fragment in dataset.get_fragments(filter=expression):
        # Each file as it is (the dataset's schema is its first file's): a column renamed or
        # retyped in a later file is absent or of its own type, not nulls or a failed cast.
        own = fragment.physical_schema
        if not filtered_on <= set(own.names):
            continue  # no timestamp (or id) to keep a row by: none would pass the filter
        present = [c for c in wanted if c in own.names] if wanted is not None else None
        header = {field.name: _pandas_dtype(field.type) for field in own}
        for group in fragment.split_by_row_group(filter=expression, schema=own):
            table = group.to_table(schema=own, columns=present, filter=expression)
            for start in range(0, table.num_rows, chunk_rows):
                frame = table.slice(start, chunk_rows).to_pandas()
                frame.attrs[HEADER] = header
                yield frame


def _pandas_dtype(arrow_type: pa.DataType) -> str:
    try:
        return str(np.dtype(arrow_type.to_pandas_dtype()))
    except (NotImplementedError, TypeError):
        return "object"


def _parquet_filter(schema: pa.Schema, time_filter: TimeFilter) -> pads.Expression | None:
    """Push the window down to the parquet reader when the column is a real timestamp."""
    if time_filter.column not in schema.names:
        return None
    kind = schema.field(time_filter.column).type
    if not pa.types.is_timestamp(kind):
        return None
    start, end = time_filter.start, time_filter.end
    if kind.tz is None:
        zone = _zone(time_filter.naive_zone)
        start = start.astimezone(zone).replace(tzinfo=None)
        end = end.astimezone(zone).replace(tzinfo=None)
    field = pads.field(time_filter.column)
    return (field >= pa.scalar(start, type=kind)) & (field < pa.scalar(end, type=kind))


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _has_nul(path: Path) -> bool:
    """Whether the file holds a NUL byte (scanned at memory speed, not read into Python)."""
    with path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return False
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return mapped.find(b"\x00") != -1


def _iter_csv(path: Path, columns: Sequence[str] | None, chunk_rows: int) -> Iterator[pd.DataFrame]:
    header = list(pd.read_csv(path, nrows=0, encoding_errors="replace").columns)
    wanted = [c for c in columns if c in header] if columns is not None else None
    # pandas' C parser ends a field at a NUL byte and silently drops the rest of the value;
    # its Python parser keeps it (slower, so only for the rare file that has one).
    engine = "python" if _has_nul(path) else "c"
    options = {} if engine == "python" else {"low_memory": False}
    try:
        if not cacheable(path):
            for chunk in pd.read_csv(
                path, usecols=wanted, chunksize=chunk_rows, encoding_errors="replace",
                engine=engine, **options,
            ):  # fmt: skip
                chunk.attrs[HEADER] = dict.fromkeys(header, "")
                yield chunk
            return
        whole = parsed_csv(
            path, lambda: pd.read_csv(path, encoding_errors="replace", engine=engine, **options)
        )
        selected = whole[wanted if wanted is not None else list(whole.columns)]  # a copy
        for start in range(0, len(selected), chunk_rows):
            chunk = selected.iloc[start : start + chunk_rows]
            chunk.attrs[HEADER] = dict.fromkeys(header, "")
            yield chunk
    except (pd.errors.ParserError, ValueError) as error:
        raise SourceError(f"{path}: not a readable CSV file: {error}") from None


def _iter_sql(
    source: SqlSource, time_filter: TimeFilter | None, *, chunk_rows: int, limit_zero: bool = False
) -> Iterator[pd.DataFrame]:
    engine = create_engine(_sql_url(source))
    bind = _window_params(source.query, time_filter, engine.dialect.name, limit_zero=limit_zero)
    sql = source.query if not limit_zero else f"SELECT * FROM ({source.query}) AS q WHERE 1 = 0"
    try:
        with engine.connect() as connection:
            frames = pd.read_sql_query(text(sql), connection, params=bind, chunksize=chunk_rows)
            yield from frames
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise SourceError(f"SQL source at {safe_url(engine.url)}: query failed: {reason}") from None
    finally:
        engine.dispose()


def _window_params(
    query: str, time_filter: TimeFilter | None, dialect: str, *, limit_zero: bool
) -> dict[str, Any]:
    """Values for the query's :start/:end; a schema-only probe binds NULLs."""
    wanted = set(text(query).compile().params)
    if limit_zero:
        return dict.fromkeys(wanted)
    missing = wanted - {"start", "end"} if time_filter else wanted
    if missing:
        raise SourceError(
            f"SQL source: the query uses :{', :'.join(sorted(missing))}; only :start and :end "
            "(the window's UTC bounds) are supplied, and only when reading a window"
        )
    bounds: dict[str, Any] = (
        {"start": time_filter.start, "end": time_filter.end} if time_filter else {}
    )
    if dialect == "sqlite":
        # SQLite keeps datetimes as text: bind the bounds in its canonical UTC text form so that
        # comparisons with stored 'YYYY-MM-DD HH:MM:SS' values order correctly.
        bounds = {k: v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") for k, v in bounds.items()}
    return {k: v for k, v in bounds.items() if k in wanted}


def to_utc(values: pd.Series, naive_zone: str, *, where: str) -> pd.Series:
    """Timestamps as UTC-aware; naive ones are read in ``naive_zone``."""
    try:
        parsed = (
            pd.to_datetime(values, format="ISO8601")
            if values.dtype == object
            else pd.to_datetime(values)
        )
        if parsed.dtype == object:  # mixed offsets parse to objects; normalise through UTC
            parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError) as error:
        raise SourceError(f"{where}: values could not be read as timestamps ({error})") from None
    if parsed.dt.tz is None:
        # Wall-clock times that a DST change makes ambiguous are read as their first occurrence,
        # and ones it skips are moved forward, so no row is silently dropped as NaT.
        first_occurrence = np.ones(len(parsed), dtype=bool)
        parsed = parsed.dt.tz_localize(
            naive_zone, ambiguous=first_occurrence, nonexistent="shift_forward"
        )
    return parsed.dt.tz_convert("UTC")


def _apply_time_filter(chunk: pd.DataFrame, time_filter: TimeFilter, role: str) -> pd.DataFrame:
    if time_filter.column not in chunk.columns:
        raise SourceError(f"{role} source has no column '{time_filter.column}' (columns.timestamp)")
    stamps = to_utc(
        chunk[time_filter.column],
        time_filter.naive_zone,
        where=f"{role} column '{time_filter.column}'",
    )
    inside = (stamps >= pd.Timestamp(time_filter.start)) & (stamps < pd.Timestamp(time_filter.end))
    kept = chunk.loc[inside.to_numpy()].copy()
    kept[time_filter.column] = stamps[inside].array  # to_numpy() would box each timestamp
    return kept


def read_all(chunks: Iterator[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """Concatenate chunks; an explicit empty frame with ``columns`` when there are none."""
    frames = [c for c in chunks if len(c)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return pd.concat(frames, ignore_index=True)


def window_filter(spec: MonitorSpec, window: Window) -> TimeFilter:
    return TimeFilter(
        spec.columns.timestamp, window.start, window.end, spec.window.naive_timestamps_in
    )
