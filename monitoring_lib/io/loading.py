"""Load what one run needs: the window's predictions with the labels known so far, and the
reference.

Labels arrive late and may be partial: a window's frame carries the target where a label has
arrived (by ``as_of`` when the labels say when they arrived) and NaN elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from monitoring_lib.io.sources import (
    DEFAULT_CHUNK_ROWS,
    SourceError,
    TimeFilter,
    describe,
    iter_source,
    read_all,
    source_columns,
    to_utc,
    window_filter,
)
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.windows import Window


@dataclass(frozen=True)
class WindowData:
    """One window's predictions joined with the labels present at load time."""

    window: Window
    frame: pd.DataFrame
    missing_columns: tuple[str, ...]
    """Columns the spec names that the prediction source lacks (recorded as schema findings)."""
    labelled_rows: int
    source_columns: Mapping[str, str] = field(default_factory=dict)
    """Every column of the files (or query) that gave the window rows, with its dtype ('' when
    not read): the schema check finds extra and renamed columns in it."""

    @property
    def is_empty(self) -> bool:
        return len(self.frame) == 0

    @property
    def label_coverage(self) -> float | None:
        return self.labelled_rows / len(self.frame) if len(self.frame) else None


def prediction_columns(spec: MonitorSpec) -> list[str]:
    """Every column the spec expects in the prediction log, in a stable order."""
    columns = spec.columns
    names = [columns.timestamp, columns.id, *columns.features]
    if columns.prediction:
        names.append(columns.prediction)
    if isinstance(columns.probability, str):
        names.append(columns.probability)
    elif isinstance(columns.probability, dict):
        names += list(columns.probability.values())
    return list(dict.fromkeys([*names, *columns.service_columns]))


def reference_log_columns(spec: MonitorSpec) -> list[str]:
    """The prediction-log columns a reference carries: features, prediction(s); no time, id,
    latency or status."""
    service = set(spec.columns.service_columns)
    return [c for c in prediction_columns(spec)[2:] if c not in service]


def scoring_columns(spec: MonitorSpec) -> list[str]:
    """The prediction-log columns model quality needs: no features."""
    return [c for c in prediction_columns(spec) if c not in spec.columns.features]


def iter_window_chunks(
    spec: MonitorSpec,
    window: Window,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    columns: list[str] | None = None,
    header: dict[str, str] | None = None,
) -> Iterator[pd.DataFrame]:
    """The window's predictions in chunks (``columns`` only, default all the spec names);
    ``header`` collects the source's columns (``sources.iter_source``)."""
    wanted = list(columns) if columns is not None else prediction_columns(spec)
    if spec.columns.target:
        wanted.append(spec.columns.target)
    yield from iter_source(
        spec.sources.predictions,
        spec.base_dir,
        "predictions",
        columns=wanted,
        time_filter=window_filter(spec, window),
        chunk_rows=chunk_rows,
        header=header,
    )


def load_window(
    spec: MonitorSpec,
    window: Window,
    *,
    as_of: datetime | None = None,
    columns: list[str] | None = None,
) -> WindowData:
    """The window's predictions, with the labels that had arrived by ``as_of`` (default: all).

    ``columns`` narrows what is read (e.g. :func:`scoring_columns` to rescore quality without
    loading the features of a large window).
    """
    return load_windows(spec, [window], as_of=as_of, columns=columns)[0]


def load_windows(
    spec: MonitorSpec,
    windows: Sequence[Window],
    *,
    as_of: datetime | None = None,
    columns: list[str] | None = None,
) -> list[WindowData]:
    """Several windows (in time order) as :func:`load_window` gives each, from one read of the
    predictions over the span they cover and one read of the labels, instead of one read of each
    source per window (late labels rescore a week of windows on every run). Windows that are
    not back to back are read a stretch at a time: the rows between them are never read, so a
    window left out (perhaps one that failed on an unreadable file) cannot fail the others."""
    if not windows:
        return []
    stretches = _contiguous(windows)
    if len(stretches) > 1:
        return [
            data
            for stretch in stretches
            for data in load_windows(spec, stretch, as_of=as_of, columns=columns)
        ]
    expected = list(columns) if columns is not None else prediction_columns(spec)
    span = Window(windows[0].start, max(w.end for w in windows), windows[0].timezone)
    header: dict[str, str] = {}
    frame = read_all(
        iter_window_chunks(spec, span, spec.memory.chunk_rows, expected, header), expected
    )
    for required in (spec.columns.timestamp, spec.columns.id):
        if required not in frame.columns and len(frame):
            raise SourceError(
                f"predictions source {describe(spec.sources.predictions, spec.base_dir)}: "
                f"no column '{required}', which the spec names as its timestamp/id"
            )
    missing = tuple(c for c in expected if c not in frame.columns)
    labels = _labels_for(spec, frame, as_of)
    if len(windows) == 1:
        return [_window_data(spec, windows[0], frame, missing, labels, header)]
    stamps = frame[spec.columns.timestamp] if len(frame) else pd.Series(dtype="object")
    loaded = []
    for window in windows:
        inside = ((stamps >= window.start) & (stamps < window.end)).to_numpy(dtype=bool)
        part = frame.loc[inside].reset_index(drop=True)
        loaded.append(_window_data(spec, window, part, missing, labels, header))
    return loaded


def _contiguous(windows: Sequence[Window]) -> list[list[Window]]:
    """Stretches of back-to-back windows, in order."""
    stretches: list[list[Window]] = []
    for window in windows:
        if stretches and stretches[-1][-1].end == window.start:
            stretches[-1].append(window)
        else:
            stretches.append([window])
    return stretches


def _window_data(
    spec: MonitorSpec,
    window: Window,
    frame: pd.DataFrame,
    missing: tuple[str, ...],
    labels: pd.DataFrame | None,
    header: Mapping[str, str],
) -> WindowData:
    frame = _attach_labels(spec, frame, labels)
    target = spec.columns.target
    labelled = int(frame[target].notna().sum()) if target and target in frame.columns else 0
    return WindowData(window, frame, missing, labelled, header)


def _labels_for(
    spec: MonitorSpec, frame: pd.DataFrame, as_of: datetime | None
) -> pd.DataFrame | None:
    """The labels of the frame's ids (one read of the labels source), or None without labels."""
    if spec.sources.labels is None or spec.columns.target is None:
        return None
    id_column = spec.columns.id
    return load_labels(spec, frame[id_column] if id_column in frame.columns else pd.Series(), as_of)


def _attach_labels(
    spec: MonitorSpec, frame: pd.DataFrame, labels: pd.DataFrame | None
) -> pd.DataFrame:
    target, id_column = spec.columns.target, spec.columns.id
    if labels is None or target is None:
        return frame
    frame = frame.drop(columns=[target], errors="ignore")
    if not len(frame):
        return frame.assign(**{target: pd.Series(dtype="float64")})
    return frame.merge(labels, on=id_column, how="left", validate="many_to_one")


def load_labels(spec: MonitorSpec, ids: pd.Series, as_of: datetime | None) -> pd.DataFrame:
    """id -> target for ``ids``, one row per id (the latest label wins)."""
    if spec.sources.labels is None or spec.columns.target is None:
        raise ValueError(f"{spec.name}: labels need sources.labels and columns.target")
    id_column, target, arrived = spec.columns.id, spec.columns.target, spec.columns.label_timestamp
    wanted = [id_column, target] + ([arrived] if arrived else [])
    where = describe(spec.sources.labels, spec.base_dir)
    chunks = []
    id_filter = (id_column, ids.drop_duplicates().tolist())
    for chunk in iter_source(
        spec.sources.labels, spec.base_dir, "labels", columns=wanted, id_filter=id_filter
    ):
        _require(chunk, wanted, f"labels source {where}")
        if arrived and as_of is not None and len(chunk):
            stamps = to_utc(
                chunk[arrived], spec.window.naive_timestamps_in, where=f"labels column '{arrived}'"
            )
            chunk = chunk[(stamps <= pd.Timestamp(as_of)).to_numpy()]
        chunks.append(chunk)
    labels = read_all(iter(chunks), wanted)
    if arrived and len(labels):
        labels = labels.sort_values(arrived, kind="stable")
    labels = labels.drop_duplicates(id_column, keep="last")
    return labels[[id_column, target]]


def _require(frame: pd.DataFrame, columns: list[str], where: str) -> None:
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise SourceError(
            f"{where}: no column {', '.join(repr(c) for c in absent)}; it has {list(frame.columns)}"
        )


def load_reference(spec: MonitorSpec) -> pd.DataFrame:
    """The reference data: features, and prediction/target where the file carries them."""
    wanted = reference_log_columns(spec)
    if spec.columns.target:
        wanted.append(spec.columns.target)
    frame = read_all(
        iter_source(spec.sources.reference, spec.base_dir, "reference", columns=wanted), wanted
    )
    if frame.empty:
        raise SourceError(
            f"reference source {describe(spec.sources.reference, spec.base_dir)} has no rows"
        )
    _require(
        frame,
        spec.columns.features,
        f"reference source {describe(spec.sources.reference, spec.base_dir)}",
    )
    return frame


def check_sources(spec: MonitorSpec) -> list[str]:
    """Every problem `driftwise validate` reports: missing files, missing columns, bad queries."""
    columns = spec.columns
    expected = {
        "predictions": (spec.sources.predictions, prediction_columns(spec)),
        "reference": (spec.sources.reference, columns.features),
    }
    if spec.sources.labels is not None and columns.target:
        label_columns = [columns.id, columns.target] + (
            [columns.label_timestamp] if columns.label_timestamp else []
        )
        expected["labels"] = (spec.sources.labels, label_columns)
    problems = []
    for role, (source, names) in expected.items():
        try:
            found = source_columns(source, spec.base_dir, role)
        except SourceError as error:
            problems.append(str(error))
            continue
        problems += _missing_columns(spec, role, names, found)
    return problems


def _missing_columns(
    spec: MonitorSpec, role: str, names: list[str], found: dict[str, list[str]]
) -> list[str]:
    """One line per missing column, however many of the source's files lack it."""
    problems = []
    for name in names:
        lacking = [where for where, present in found.items() if name not in present]
        if not lacking:
            continue
        where = (
            lacking[0]
            if len(found) == 1
            else (f"{len(lacking)} of its {len(found)} files (e.g. {lacking[0]})")
        )
        problems.append(
            f"{role} source {where}: no column '{name}' ({_role_of(spec, name)}); "
            f"it has {found[lacking[0]]}"
        )
    return problems


def _role_of(spec: MonitorSpec, column: str) -> str:
    if column == spec.columns.label_timestamp:
        return "columns.label_timestamp"
    for key, name in spec.columns.roles():
        if name == column:
            return f"columns.{key}"
    return "columns"


__all__ = [
    "TimeFilter",
    "WindowData",
    "check_sources",
    "iter_window_chunks",
    "load_labels",
    "load_reference",
    "load_window",
    "load_windows",
]
