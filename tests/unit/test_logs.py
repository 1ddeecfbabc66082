"""JSON log lines: fields, run context, Prefect's run attributes, secrets scrubbed, the switch."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from monitoring_lib.observability.logs import configure_logging, log_context

TOKEN = "xoxb-123-456-logsecretvalue"
DB_PASSWORD = "pg-pa55-secret"
SMTP_PASSWORD = "smtp-secret-value"


@pytest.fixture
def root_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def lines(root_restored: None) -> io.StringIO:
    buffer = io.StringIO()
    assert configure_logging(True, stream=buffer) is not None
    return buffer


def records(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_run_context(lines: io.StringIO) -> None:
    log = logging.getLogger("driftwise.test")
    with log_context(model="credit", window="2024-05-01", run_id="r-1"):
        with log_context(stage="drift"):
            log.info("computed %d columns", 5)
        log.warning("after the stage")
    log.info("outside")
    first, second, third = records(lines)
    assert first["message"] == "computed 5 columns"
    assert first["level"] == "INFO"
    assert first["logger"] == "driftwise.test"
    assert str(first["timestamp"]).startswith("20")
    assert {k: first[k] for k in ("model", "window", "run_id", "stage")} == {
        "model": "credit",
        "window": "2024-05-01",
        "run_id": "r-1",
        "stage": "drift",
    }
    assert "stage" not in second
    assert second["model"] == "credit"
    assert not {"model", "window", "run_id", "stage"} & set(third)


def test_prefect_run_attributes_fill_run_id_and_stage(lines: io.StringIO) -> None:
    extra = {"flow_run_id": "8f2c", "task_run_name": "load window-a1f"}
    with log_context(model="credit"):
        logging.getLogger("prefect.task_runs").warning("loaded", extra=extra)
    (line,) = records(lines)
    assert (line["run_id"], line["stage"], line["model"]) == ("8f2c", "load window", "credit")


def test_secrets_never_reach_a_line(root_restored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTWISE_SLACK_TOKEN", TOKEN)
    monkeypatch.setenv("DRIFTWISE_SMTP_PASSWORD", SMTP_PASSWORD)
    buffer = io.StringIO()
    configure_logging(True, stream=buffer)
    log = logging.getLogger("driftwise.test")
    log.info("token %s", TOKEN)
    log.info("store postgresql://driftwise:%s@db:5432/x", DB_PASSWORD)
    log.info("smtp said no to %s", SMTP_PASSWORD)
    try:
        raise RuntimeError(f"refused with {TOKEN}")
    except RuntimeError:
        log.exception("post failed")
    text = buffer.getvalue()
    assert len(records(buffer)) == 4
    for secret in (TOKEN, DB_PASSWORD, SMTP_PASSWORD):
        assert secret not in text
    assert "postgresql://driftwise:***@db:5432/x" in text
    assert "RuntimeError" in text  # the traceback stays, scrubbed


@pytest.mark.parametrize("value", ["false", "0", None])
def test_off_by_default_and_by_setting(
    root_restored: None, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is not None:
        monkeypatch.setenv("DRIFTWISE_LOG_JSON", value)
    before = list(logging.getLogger().handlers)
    assert configure_logging() is None
    assert logging.getLogger().handlers == before


def test_the_setting_switches_it_on(root_restored: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTWISE_LOG_JSON", "true")
    buffer = io.StringIO()
    assert configure_logging(stream=buffer) is not None
    logging.getLogger("driftwise.test").info("on")
    assert records(buffer)[0]["message"] == "on"


def test_configuring_twice_writes_each_line_once(root_restored: None) -> None:
    buffer = io.StringIO()
    configure_logging(True, stream=buffer)
    configure_logging(True, stream=buffer)
    logging.getLogger("driftwise.test").info("once")
    assert [r["message"] for r in records(buffer)] == ["once"]


def test_unknown_context_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown log context"), log_context(user="x"):
        pass
