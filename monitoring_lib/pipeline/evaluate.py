"""One window loaded whole: gather its profiles and frames in memory, then run the stages.

Windows above ``memory.max_cells_in_memory`` take the streamed path instead
(:mod:`monitoring_lib.pipeline.streamed`); both end in the same stage list.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from monitoring_lib.io.artifacts import model_folder
from monitoring_lib.io.loading import WindowData
from monitoring_lib.metrics import profiling
from monitoring_lib.metrics.drift.memory import compute_drift
from monitoring_lib.metrics.service import service_of_frame
from monitoring_lib.pipeline.stages import (
    Gathered,
    ReferenceProfileInfo,
    Stopwatch,
    WindowEvaluation,
    artifact_label,
    numeric_only,
    prediction_drift_column,
    run_stages,
)
from monitoring_lib.spec.monitor import MonitorSpec


def evaluate_window(
    spec: MonitorSpec,
    data: WindowData,
    reference: pd.DataFrame,
    *,
    artifacts: Path,
    write_report: bool = True,
    profile_workers: int = 1,
) -> WindowEvaluation:
    """Profile, check, measure drift and quality of one window against the reference.

    ``profile_workers`` processes may profile a large window (``DriftwiseSettings``).
    """
    clock = Stopwatch()
    columns = spec.columns
    folder = model_folder(artifacts, spec.name)
    frame, label = data.frame, artifact_label(data.window.label)

    digest = clock.run("reference_hash", lambda: profiling.content_hash_of_frame(reference))
    ref_view, ref_path = clock.run(
        "reference_profile",
        lambda: profiling.cached_reference_view(
            reference,
            folder / "reference",
            content_hash=digest,
            workers=profile_workers,
            numeric_only=numeric_only(spec),
        ),
    )
    view = clock.run(
        "profile",
        lambda: profiling.profile_frame(
            frame, workers=profile_workers, numeric_only=numeric_only(spec)
        ),
    )
    gathered = Gathered(
        rows=len(frame),
        reference=ReferenceProfileInfo(digest, ref_path, len(reference)),
        reference_view=ref_view,
        view=view,
        profile_path=profiling.write_view(view, folder / "profiles" / f"{label}.bin"),
        schema_frame=frame,
        reference_frame=reference,
        report_frame=frame,
        drift=lambda: compute_drift(
            reference,
            frame,
            numerical=columns.numerical,
            categorical=columns.categorical,
            prediction=prediction_drift_column(spec),
            target=columns.target,
            segments=columns.segments,
            settings=spec.drift,
        ),
        quality_frame=lambda: frame,
        reference_quality=lambda: reference,
        service=lambda: service_of_frame(frame, columns, spec.service),
        source_columns=data.source_columns,
    )
    report = folder / "reports" / f"{label}.html" if write_report else None
    return run_stages(spec, gathered, clock, report)
