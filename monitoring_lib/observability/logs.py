"""JSON log lines with the run's context, switched on by ``DRIFTWISE_LOG_JSON``.

Every line carries ``timestamp``, ``level``, ``logger`` and ``message``, plus whichever of
``model``, ``window``, ``run_id`` and ``stage`` are known: set them with ``log_context`` around a
run; inside Prefect, the flow run id and the task's name fill ``run_id`` and ``stage`` when the
context does not. Known secrets (tokens, webhook and Pushgateway URLs, passwords, routing keys)
and any URL's password are scrubbed from the message and the traceback before a line is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO

from pydantic import SecretStr
from pythonjsonlogger.json import JsonFormatter

from monitoring_lib.observability.redaction import RedactingFilter
from monitoring_lib.settings import DriftwiseSettings

CONTEXT_FIELDS = ("model", "window", "run_id", "stage")
_context: ContextVar[Mapping[str, str]] = ContextVar("driftwise_log_context", default={})  # noqa: B039 -- read-only default
_TASK_SUFFIX = re.compile(r"-[0-9a-f]{3}$")
_MARK = "_driftwise_json"
"""Attribute set on the handlers and filters this module installs, so a second call replaces
them instead of doubling every line."""


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add ``model``, ``window``, ``run_id`` or ``stage`` to every line logged inside the block
    (Prefect copies context variables into task runs, so tasks inherit it)."""
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields {sorted(unknown)}; use {CONTEXT_FIELDS}")
    merged = {**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the log context onto each record; Prefect's run attributes fill the gaps."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = dict(_context.get())
        flow_run_id = getattr(record, "flow_run_id", None)
        if "run_id" not in fields and flow_run_id:
            fields["run_id"] = str(flow_run_id)
        task = getattr(record, "task_run_name", None)
        if "stage" not in fields and task:
            fields["stage"] = _TASK_SUFFIX.sub("", str(task))
        for name, value in fields.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def json_formatter() -> logging.Formatter:
    """One JSON object per line: timestamp (UTC ISO 8601), level, logger, message, context."""
    return JsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
        json_ensure_ascii=False,
    )


def known_secrets() -> list[str]:
    """Every secret the settings hold (values of SecretStr fields), to scrub from log lines."""
    found = []
    for settings in (DriftwiseSettings(),):
        for name in type(settings).model_fields:
            value = getattr(settings, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                found.append(value.get_secret_value())
    return found


def configure_logging(
    enabled: bool | None = None,
    *,
    level: int | str = logging.INFO,
    stream: IO[str] | None = None,
    secrets: Sequence[str] | None = None,
) -> logging.Handler | None:
    """Switch the root logger's output to JSON lines when ``enabled`` (default: the
    ``log_json`` setting). Handlers already on the root (Prefect's console) get the JSON
    formatter; without any, one writing to ``stream`` (stderr) is added. Idempotent.
    Returns the handler added, if any."""
    if enabled is None:
        enabled = DriftwiseSettings().log_json
    if not enabled:
        return None
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    added = None
    targets = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    if stream is not None or not targets:
        added = logging.StreamHandler(stream or sys.stderr)
        setattr(added, _MARK, True)
        root.addHandler(added)
        targets = [added]
    secrets = known_secrets() if secrets is None else secrets
    # Short values (a 3-letter password) would blank out ordinary words all over the log.
    filters = [ContextFilter(), RedactingFilter([s for s in secrets if len(s) >= 4])]
    for filter_ in filters:
        setattr(filter_, _MARK, True)
    for handler in targets:
        for old_filter in [f for f in handler.filters if getattr(f, _MARK, False)]:
            handler.removeFilter(old_filter)
        handler.setFormatter(json_formatter())
        for filter_ in filters:
            handler.addFilter(filter_)
    root.setLevel(level)
    return added
