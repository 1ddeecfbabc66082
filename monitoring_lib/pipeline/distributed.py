"""A streamed window profiled on a Dask cluster, merged on the driver into the local records.

The window's profiling pass (whylogs profiles, the report and schema sample, the quality
columns, service counts: the pass that costs most of a large window's time) runs per part of the
source (``io.parts``) on the workers, each reading its part itself with the streamed path's own
reader and pass (``streamed.profile_pass``). The driver merges the parts in reading order with
the streamed path's merges: profiles by whylogs' merge (within sketch error), counts added, the
sample by its keys (each part starts its key stream at its first row, so the merged sample is
the one a single pass keeps). Every other stage, the persist and the policy stay on the driver,
as in a local streamed run: nothing is written before the merge, so a lost worker leaves no
half-written window (Dask reruns its part elsewhere, or the run fails whole).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from monitoring_lib.io.parts import Part, part_rows, part_spec, source_parts
from monitoring_lib.metrics import profiling
from monitoring_lib.metrics.drift.streamed import ColumnReader
from monitoring_lib.metrics.service import ServiceCounts
from monitoring_lib.pipeline.stages import WindowEvaluation
from monitoring_lib.pipeline.streamed import (
    GroupedRead,
    ProfilePass,
    evaluate_window_streamed,
    no_read,
    profile_pass,
    window_labels,
    window_reader,
)
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec.monitor import MonitorSpec
from monitoring_lib.spec.window import ComputeSpec
from monitoring_lib.windows import Window

if TYPE_CHECKING:  # imported where a cluster is used: a local run does not pay ~1.4 s for it
    from distributed import Client


def effective_compute(spec: MonitorSpec, settings: DriftwiseSettings) -> ComputeSpec:
    """The spec's ``compute``, unless the deployment names a scheduler or a worker count."""
    if settings.dask_address:
        return ComputeSpec(mode="address", address=settings.dask_address)
    if settings.dask_workers:
        return ComputeSpec(mode="local-cluster", workers=settings.dask_workers)
    return spec.compute


@contextmanager
def dask_client(compute: ComputeSpec) -> Iterator[Client]:
    """A client of the scheduler named, or of a local cluster of worker processes that lives
    as long as the block (one thread each: whylogs and pandas hold the GIL)."""
    from distributed import Client, LocalCluster

    if compute.mode == "address":
        with Client(compute.address) as client:  # type: ignore[no-untyped-call]
            yield client
        return
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=compute.workers, processes=True, threads_per_worker=1,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):  # fmt: skip
        yield client


@dataclass
class PartProfile:
    """What one part's profiling pass gives back: small, mergeable pieces, never the rows."""

    view: profiling.DatasetProfileView
    passes: GroupedRead
    counts: ServiceCounts
    header: dict[str, str] = field(default_factory=dict)


def profile_part(
    spec: MonitorSpec, window: Window, part: Part, as_of: datetime | None, offset: int
) -> PartProfile:
    """On a worker: the part's rows read from the source, labels joined, profiled and sampled
    from row ``offset`` of the window on."""
    narrowed = part_spec(spec, part)
    header: dict[str, str] = {}
    read = window_reader(narrowed, window, window_labels(narrowed, window, as_of), header)
    counts = ServiceCounts()
    view, passes = profile_pass(narrowed, read, 1, counts, offset=offset)
    passes.read = no_read  # the reader is a closure over this worker's labels
    return PartProfile(view, passes, counts, header)


def merge_parts(parts: list[PartProfile], counts: ServiceCounts, header: dict[str, str]) -> tuple[
    profiling.DatasetProfileView, GroupedRead
]:  # fmt: skip
    """The parts, in reading order, as the one pass of a local streamed run."""
    for part in parts:
        counts.merge(part.counts)
        for name, dtype in part.header.items():
            header.setdefault(name, dtype)
    view = profiling.merge_views(part.view for part in parts)
    return view, GroupedRead.merged([part.passes for part in parts])


def cluster_profile_pass(client: Client, window: Window, as_of: datetime | None) -> ProfilePass:
    """A ``ProfilePass`` that runs on the client's workers, part by part."""

    def run(
        spec: MonitorSpec,
        read: ColumnReader,
        workers: int,
        counts: ServiceCounts,
        header: dict[str, str],
    ) -> tuple[profiling.DatasetProfileView, GroupedRead]:
        parts = source_parts(spec.sources.predictions, spec.base_dir, "predictions")
        sizes = client.gather(  # type: ignore[no-untyped-call]
            client.map(part_rows, *_each(spec, window, len(parts)), parts, pure=False)
        )
        offsets = [sum(sizes[:i]) for i in range(len(parts))]
        busy = [i for i, size in enumerate(sizes) if size]  # a part with no row adds nothing
        if not busy:  # an empty window: the local pass reads nothing and types the empty sample
            return profile_pass(spec, read, workers, counts)
        futures = client.map(
            profile_part, *_each(spec, window, len(busy)), [parts[i] for i in busy],
            [as_of] * len(busy), [offsets[i] for i in busy], pure=False,
        )  # fmt: skip
        return merge_parts(client.gather(futures), counts, header)  # type: ignore[no-untyped-call]

    return run


def _each(spec: MonitorSpec, window: Window, count: int) -> tuple[list[MonitorSpec], list[Window]]:
    return [spec] * count, [window] * count


def evaluate_window_on_cluster(
    spec: MonitorSpec,
    window: Window,
    client: Client,
    *,
    artifacts: Path,
    as_of: datetime | None = None,
    write_report: bool = True,
) -> WindowEvaluation:
    """The streamed path with its profiling pass on the cluster; the same records."""
    return evaluate_window_streamed(
        spec, window, artifacts=artifacts, as_of=as_of, write_report=write_report,
        profile=cluster_profile_pass(client, window, as_of),
    )  # fmt: skip
