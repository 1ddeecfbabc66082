"""Health in the Prefect UI's runs list: a flow run's tags and name say which model it watched
and, once known, what driftwise found (``model:credit-default``, ``status:red``).

Prefect sets a run's name and tags when the run is created, before driftwise has read the spec or
judged the window; these helpers update them from inside the run through the Prefect API
(``PATCH /flow_runs/{id}``). A failed update is logged and never fails the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from prefect import get_run_logger, runtime
from prefect.client.orchestration import get_client

from monitoring_lib.spec.monitor import load_spec

STATUS_PREFIX = "status:"
MODEL_PREFIX = "model:"


def model_tag(model: str) -> str:
    return f"{MODEL_PREFIX}{model}"


def status_tag(status: str) -> str:
    return f"{STATUS_PREFIX}{status}"


def merged_tags(current: Iterable[str], add: Iterable[str]) -> list[str]:
    """``current`` plus ``add``; a new ``status:`` or ``model:`` tag replaces an older one."""
    added = list(dict.fromkeys(add))
    replaced = {tag.split(":", 1)[0] + ":" for tag in added if ":" in tag}
    kept = [
        tag
        for tag in current
        if not any(tag.startswith(prefix) for prefix in replaced & {STATUS_PREFIX, MODEL_PREFIX})
    ]
    return list(dict.fromkeys([*kept, *added]))


def label_this_run(*, tags: Iterable[str] = (), name: str | None = None) -> None:
    """Add ``tags`` to the current flow run (and rename it), through the Prefect API."""
    run_id = runtime.flow_run.id
    if not run_id:
        return
    try:
        with get_client(sync_client=True) as client:
            current = client.read_flow_run(UUID(run_id)).tags
            client.update_flow_run(UUID(run_id), name=name, tags=merged_tags(current, tags))
    except Exception as error:  # the UI's labels are a convenience; the run's work stands
        get_run_logger().warning("could not label the flow run %s: %s", run_id, error)


def _parameter(params: Any, name: str) -> Any:
    return params.get(name) if isinstance(params, dict) else getattr(params, name, None)


def spec_run_name(role: str) -> Callable[[], str]:
    """A ``flow_run_name`` for flows that take ``params.spec_path``: 'credit-default retrain'
    (and the window that asked for it), not the spec file's path."""

    def name() -> str:
        params = runtime.flow_run.parameters.get("params") or {}
        path = str(_parameter(params, "spec_path") or "")
        try:
            spec = load_spec(path)
        except Exception:  # a bad spec fails inside the run, with its own message
            return f"{Path(path).stem or 'model'} {role}"
        window = _parameter(params, "window_start")
        if isinstance(window, str):
            window = datetime.fromisoformat(window)
        if not isinstance(window, datetime):
            return f"{spec.name} {role}"
        local = window.astimezone(ZoneInfo(spec.window.timezone)) if window.tzinfo else window
        return f"{spec.name} {role} for {local.date().isoformat()}"

    return name
