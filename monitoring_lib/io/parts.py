"""A window's source split into parts that a Dask worker reads itself.

A part is a small picklable description (one file of a glob, or a SQL query), not rows: the
driver sends only the description, and each worker reads its part from the source with the
same reader a local run uses (``iter_source``), so the part's chunks are the local run's chunks.
Parts are listed in the order a local run reads the source (parquet files sorted, then the CSV
files), which lets the driver merge their results into what one pass would have given.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from monitoring_lib.io.sources import (
    _file_format,
    count_rows,
    describe,
    resolve_files,
    window_filter,
)
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.spec.sources import FileSource, Source, SqlSource
from monitoring_lib.windows import Window


@dataclass(frozen=True)
class Part:
    """One part of a source: a source in its own right, naming one file (or the whole query)."""

    source: Source
    where: str
    """The file (or the query's description), for errors and logs."""


def source_parts(source: Source, base_dir: Path, role: str) -> list[Part]:
    """The parts of a source in local reading order. A SQL query is one part: its rows are
    read by one worker (the database, not the worker, does the filtering)."""
    if isinstance(source, SqlSource):
        return [Part(source, describe(source, base_dir))]
    files = resolve_files(source, base_dir, role)
    parquet = [p for p in files if _file_format(source, p) == "parquet"]
    ordered = parquet + [p for p in files if p not in parquet]
    return [Part(_one_file(source, path), str(path)) for path in ordered]


def _one_file(source: FileSource, path: Path) -> FileSource:
    return FileSource(path=glob.escape(str(path.absolute())), format=source.format)


def part_spec(spec: MonitorSpec, part: Part) -> MonitorSpec:
    """The spec with its predictions narrowed to one part (everything else unchanged)."""
    sources = spec.sources.model_copy(update={"predictions": part.source})
    return spec.model_copy(update={"sources": sources})


def part_rows(spec: MonitorSpec, window: Window, part: Part) -> int:
    """Rows of the part inside the window, read as little as the format allows."""
    return count_rows(
        part.source,
        spec.base_dir,
        "predictions",
        columns=[spec.columns.timestamp],
        time_filter=window_filter(spec, window),
    )
