"""Tasks that write what people open in a browser: the model's history page, and driftwise's
verdict at the top of the window's report."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from monitoring_lib.pages.timeseries import PAGE_NAME
from monitoring_lib.pages.urls import page_url
from monitoring_lib.pages.verdict import ReportSample
from monitoring_lib.pipeline.history import history_path, write_history_page
from monitoring_lib.pipeline.report import add_verdict
from monitoring_lib.pipeline.summary import WindowSummary
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec.monitor import MonitorSpec
from tasks.store import store_sessions


def page_links(
    settings: DriftwiseSettings, model: str, report: Path | None
) -> list[tuple[str, str]]:
    """(text, URL) of the window's report and the model's history page, under the base URL."""
    base, artifacts = settings.pages_base_url, settings.artifacts
    links = [("HTML report", page_url(report, artifacts, base))] if report else []
    links.append(("history", page_url(history_path(artifacts, model), artifacts, base)))
    return links


@task(name="write history page", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def history_page_task(spec: MonitorSpec, artifacts: Path) -> Path:
    """The model's time-series page, regenerated from the store after each window."""
    with store_sessions()() as session:
        path = write_history_page(session, spec, artifacts)
    get_run_logger().info("history page: %s", path)
    return path


@task(name="add verdict to report", cache_policy=NO_CACHE)
def report_verdict_task(
    spec: MonitorSpec, summary: WindowSummary, report: Path, sample: ReportSample | None = None
) -> bool:
    """driftwise's status, drift share and the rules that fired, at the top of the report."""
    links = [("history of this model", PAGE_NAME)]
    return add_verdict(report, spec, summary, links=links, sample=sample)
