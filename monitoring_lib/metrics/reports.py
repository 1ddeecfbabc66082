"""Evidently's HTML drift report, drawn from bounded uniform samples of the window.

Evidently needs minutes and gigabytes on million-row windows, so the stored verdicts come from
:mod:`monitoring_lib.drift`; the report is only for people, and a sample of a few tens of
thousands of rows draws the same picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


@dataclass(frozen=True)
class ReportInfo:
    """Where the report went and how many rows of each side it saw."""

    path: Path
    reference_rows_used: int
    current_rows_used: int


def uniform_sample(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """At most ``size`` rows drawn uniformly without replacement (all rows if fewer)."""
    if len(frame) <= size:
        return frame
    return frame.sample(n=size, random_state=seed)


def write_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    path: Path | str,
    sample_size: int = 50_000,
    seed: int = 0,
) -> ReportInfo:
    """Write Evidently's DataDriftPreset HTML for samples of ``reference`` and ``current``.

    Raises ValueError for empty inputs: Evidently cannot draw a report without rows.
    """
    if reference.empty or current.empty:
        raise ValueError("a drift report needs rows in both the reference and the current window")
    columns = [*numerical, *categorical]
    ref_sample = uniform_sample(reference[columns], sample_size, seed)
    cur_sample = uniform_sample(current[columns], sample_size, seed + 1)
    definition = DataDefinition(
        numerical_columns=list(numerical), categorical_columns=list(categorical)
    )
    snapshot = Report([DataDriftPreset(columns=columns)]).run(
        Dataset.from_pandas(cur_sample, data_definition=definition),
        Dataset.from_pandas(ref_sample, data_definition=definition),
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(target))
    return ReportInfo(target, len(ref_sample), len(cur_sample))
