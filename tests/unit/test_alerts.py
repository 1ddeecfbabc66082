"""Alerts: the spec section, message content, the planning state machine, redaction, and the real
slack-sdk channels against a local Slack stand-in (tests/slack_server.py)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
import yaml
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from driftwise.cli_alerts import alerts_app
from monitoring_lib.alerts.channels.base import Pacing, alert_fingerprint
from monitoring_lib.alerts.channels.factory import build_channels
from monitoring_lib.alerts.channels.slack_api import SlackApiChannel
from monitoring_lib.alerts.channels.webhook import WebhookChannel
from monitoring_lib.alerts.content import format_value, slack_message
from monitoring_lib.alerts.planning import (
    AlertContent,
    AlertContext,
    AlertState,
    Breach,
    DriftedColumn,
    dedup_key,
    plan_alerts,
)
from monitoring_lib.observability.redaction import REDACTED, RedactingFilter, redact
from monitoring_lib.spec.alerts import AlertsSpec, SlackApiChannelSpec
from monitoring_lib.store.repository import AlertDraft
from tests.slack_server import SlackTestServer

TOKEN = "xoxb-4242-4343-SeCrEtBoTtOkEn"
DAY1 = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def slack() -> Iterator[SlackTestServer]:
    with SlackTestServer(token=TOKEN, retry_after=1, hang_seconds=2.5, lifetime=30) as server:
        yield server


def api_channel(server: SlackTestServer) -> SlackApiChannel:
    return SlackApiChannel(
        name="slack:C1",
        channel="C1",
        token=SecretStr(TOKEN),
        base_url=server.base_url,
        timeout=1,
        pacing=Pacing(min_interval=0.0),
        retry_interval=0.05,
    )


def firing_content(**changes: object) -> AlertContent:
    values: dict[str, object] = {
        "model": "credit",
        "window_label": "2024-05-01",
        "severity": "high",
        "kind": "firing",
        "rule": "dataset-drift",
        "breaches": (Breach("dataset-drift", "drift.share", 0.625, 0.5, "high"),),
        "top_drifted": (DriftedColumn("income", 0.31, "wasserstein"), DriftedColumn("age", 0.2)),
        "decision": "retrain",
        "prefect_run_url": "https://prefect.example/runs/flow-run/abc",
        "report_url": "https://reports.example/credit/2024-05-01.html",
        "runbook_url": "https://wiki.example/runbooks/credit",
    }
    values.update(changes)
    return AlertContent(**values)  # type: ignore[arg-type]


# ---- the spec section ------------------------------------------------------------------------


def test_channels_are_typed_and_take_defaults() -> None:
    spec = AlertsSpec.model_validate(
        {
            "runbook_url": "https://wiki.example/rb",
            "channels": [
                {
                    "type": "slack_api",
                    "channel": "C0123",
                    "min_severity": "high",
                    "cooldown": "12h",
                },
                {"type": "slack_webhook"},
                {"type": "webhook", "url_env": "PAGER_URL", "digest_after": 2},
            ],
        }
    )
    api, hook, plain = spec.channels
    assert isinstance(api, SlackApiChannelSpec)
    assert (api.key, api.min_severity, api.cooldown) == ("slack:C0123", "high", timedelta(hours=12))
    assert (hook.key, hook.min_severity, hook.cooldown) == (
        "slack-webhook",
        "warning",
        timedelta(1),
    )
    assert (plain.key, plain.digest_after, plain.min_interval_seconds) == (
        "webhook:PAGER_URL",
        2,
        1.0,
    )


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ({"type": "slack_api"}, "Field required"),
        ({"type": "carrier_pigeon", "to": "x"}, "does not match any of the expected tags"),
        (
            {"type": "slack_webhook", "min_severity": "urgent"},
            "'info', 'warning', 'high' or 'critical'",
        ),
        ({"type": "slack_webhook", "cooldown": "soon"}, "is not a duration like '1d'"),
        ({"type": "webhook", "url_env": "https://hooks.example/x"}, "should match pattern"),
        ({"type": "slack_webhook", "token": "xoxb-1"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_channels_are_refused_with_a_reason(channel: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AlertsSpec.model_validate({"channels": [channel]})


def test_two_channels_with_one_name_are_refused() -> None:
    channels = [{"type": "slack_api", "channel": "C1"}, {"type": "slack_api", "channel": "C1"}]
    with pytest.raises(ValidationError, match="two channels are named 'slack:C1'"):
        AlertsSpec.model_validate({"channels": channels})


# ---- content ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "n/a"),
        (float("nan"), "n/a"),
        (float("inf"), "n/a"),
        (0.123456, "0.1235"),
        (3.0, "3"),
        (12345.678, "12,345.7"),
        (-0.000012345, "-1.234e-05"),
        (2_000_000.0, "2,000,000"),
    ],
)
def test_values_are_formatted_for_people(value: float | None, text: str) -> None:
    assert format_value(value) == text


def test_a_firing_alert_says_what_breached_and_links_everything() -> None:
    message = slack_message([firing_content()])
    blocks = json.dumps(message.blocks)
    assert message.text == (
        "[HIGH] credit 2024-05-01: drift.share: 0.625 &gt; 0.5; decision: retrain"
    )
    assert message.blocks[0]["type"] == "header"
    assert "HIGH: credit dataset-drift" in message.blocks[0]["text"]["text"]
    for expected in ("*Severity*\\nhigh", "*Decision*\\nretrain", "drift.share: 0.625 &gt; 0.5"):
        assert expected in blocks
    assert "income: 0.31 (wasserstein)" in blocks
    assert "age: 0.2" in blocks
    assert "<https://prefect.example/runs/flow-run/abc|Prefect run>" in blocks
    assert "<https://reports.example/credit/2024-05-01.html|HTML report>" in blocks
    assert "<https://wiki.example/runbooks/credit|Runbook>" in blocks


def test_missing_values_never_show_as_nan_and_markup_is_escaped() -> None:
    breach = Breach("r", "drift.score", float("nan"), float("inf"), column="<!channel> & co")
    content = firing_content(breaches=(breach,), top_drifted=(DriftedColumn("x", float("nan")),))
    message = slack_message([content])
    rendered = json.dumps(message.blocks) + message.text
    assert "nan" not in rendered.lower().replace("n/a", "")
    assert "inf" not in rendered.lower()
    assert "drift.score (&lt;!channel&gt; &amp; co): n/a &gt; n/a" in rendered
    assert "<!channel>" not in rendered  # neither the blocks nor the notification text ping


def test_resolved_and_test_messages_read_as_such() -> None:
    resolved = slack_message([firing_content(kind="resolved", breaches=(), decision="none")])
    assert resolved.text == "RESOLVED credit 2024-05-01: dataset-drift is back to normal"
    assert "Resolved" in resolved.blocks[0]["text"]["text"]
    test = slack_message([firing_content(kind="test", breaches=(), top_drifted=())])
    assert test.text.startswith("driftwise test message for credit")


def test_a_burst_becomes_one_digest_within_block_kit_limits() -> None:
    contents = [
        firing_content(rule=f"rule-{i}", severity="critical" if i == 7 else "warning", breaches=())
        for i in range(13)
    ]
    message = slack_message(contents)
    assert message.blocks[0]["text"]["text"].endswith("driftwise: 13 alerts")
    assert ":red_circle:" in message.blocks[0]["text"]["text"]
    assert "… and 3 more" in message.blocks[1]["text"]["text"]
    assert len(message.blocks) <= 50
    assert len(message.text) <= 3000


def test_long_inputs_are_clipped_to_block_kit_limits() -> None:
    breaches = tuple(Breach(f"r{i}", "m" * 500, 1.0, 0.5) for i in range(30))
    message = slack_message([firing_content(model="m" * 400, breaches=breaches)])
    assert len(message.blocks[0]["text"]["text"]) <= 150
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section" and "text" in b]
    assert sections
    assert all(len(text) <= 3000 for text in sections)
    assert len(message.text) <= 3000


def test_content_survives_the_outbox_json() -> None:
    content = firing_content()
    stored = json.loads(json.dumps(content.to_json()))
    assert AlertContent.from_json(stored) == content


# ---- planning --------------------------------------------------------------------------------

SPEC = AlertsSpec.model_validate(
    {
        "runbook_url": "https://wiki.example/rb",
        "channels": [
            {"type": "slack_api", "channel": "C1", "cooldown": "3d"},
            {"type": "slack_webhook", "min_severity": "high", "cooldown": "1d"},
        ],
    }
)


def breach(value: float = 0.7, severity: str = "warning") -> Breach:
    return Breach("drift", "drift.share", value, 0.5, severity)  # type: ignore[arg-type]


def context(day: int) -> AlertContext:
    start = DAY1 + timedelta(days=day)
    return AlertContext("credit", start, start.date().isoformat(), decision="alert")


def simulate(days: list[str]) -> list[list[AlertDraft]]:
    """Plan day after day, feeding each day's drafts back as the outbox would.

    ``days``: 'warning' / 'high' / ... (breaching at that severity), 'clear', or 'nodata'."""
    states: dict[tuple[str, str], AlertState] = {}
    planned = []
    for day, state in enumerate(days):
        firing = [breach(severity=state)] if state not in ("clear", "nodata") else []
        cleared = {"drift"} if state == "clear" else set()
        drafts = plan_alerts(context(day), firing, cleared, states, SPEC)
        for draft in drafts:
            key = (draft.rule, draft.channel)
            states[key] = AlertState.of(draft.kind, draft.severity, context(day).window_start)
        planned.append(drafts)
    return planned


def kinds(drafts: list[AlertDraft]) -> list[tuple[str, str]]:
    return sorted((d.channel, d.kind) for d in drafts)


def test_a_persisting_breach_alerts_once_then_is_silent_until_it_resolves() -> None:
    planned = simulate(["warning", "warning", "warning", "clear", "clear"])
    assert [kinds(d) for d in planned] == [
        [("slack:C1", "firing")],
        [],
        [],
        [("slack:C1", "resolved")],
        [],
    ]
    resolved = planned[3][0]
    assert resolved.dedup_key == "credit|drift|2024-05-04T00:00:00+00:00|resolved"
    assert resolved.severity == "warning"
    assert AlertContent.from_json(resolved.content).kind == "resolved"


def test_the_cooldown_ends_with_one_reminder() -> None:
    planned = simulate(["warning"] * 7)
    alerting_days = [day for day, drafts in enumerate(planned) if drafts]
    assert alerting_days == [0, 3, 6]
    note = AlertContent.from_json(planned[3][0].content).note
    assert note.startswith("still firing (last alert for the window starting 2024-05-01")


def test_rising_severity_alerts_again_and_reaches_more_channels() -> None:
    planned = simulate(["warning", "high", "high", "critical", "clear"])
    assert [kinds(d) for d in planned] == [
        [("slack:C1", "firing")],
        [("slack-webhook", "firing"), ("slack:C1", "firing")],
        [("slack-webhook", "firing")],  # the webhook's own cooldown is 1d
        [("slack-webhook", "firing"), ("slack:C1", "firing")],
        [("slack-webhook", "resolved"), ("slack:C1", "resolved")],
    ]
    (escalation,) = [d for d in planned[1] if d.channel == "slack:C1"]
    assert AlertContent.from_json(escalation.content).note == "severity rose from warning to high"


def test_no_data_neither_fires_nor_resolves() -> None:
    planned = simulate(["warning", "nodata", "nodata", "clear", "nodata", "clear"])
    assert [kinds(d) for d in planned] == [
        [("slack:C1", "firing")],
        [],
        [],
        [("slack:C1", "resolved")],
        [],
        [],
    ]


def test_a_rerun_plans_the_same_dedup_keys() -> None:
    first = plan_alerts(context(0), [breach()], set(), {}, SPEC)
    again = plan_alerts(context(0), [breach()], set(), {}, SPEC)
    assert [d.dedup_key for d in first] == [d.dedup_key for d in again]
    assert first[0].dedup_key == dedup_key("credit", "drift", DAY1)
    assert first[0].dedup_key == "credit|drift|2024-05-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("firing", "cleared"), [([breach(), breach(0.9)], set()), ([breach()], {"drift"})]
)
def test_a_rule_has_one_verdict_per_window(firing: list[Breach], cleared: set[str]) -> None:
    with pytest.raises(ValueError, match="one breach per rule, and a firing rule cannot"):
        plan_alerts(context(0), firing, cleared, {}, SPEC)


# ---- redaction -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secrets", "gone"),
    [
        ("auth header Bearer xoxb-1234-5678-AbCd", (), "xoxb-1234-5678-AbCd"),
        ("user token xoxp-99-abc in a message", (), "xoxp-99-abc"),
        ("posting to https://hooks.slack.com/services/T1/B2/xyz failed", (), "hooks.slack.com"),
        (
            "url: http://127.0.0.1:5/hooks/json?key=k1",
            ("http://127.0.0.1:5/hooks/json?key=k1",),
            "k1",
        ),
        (
            "POST /services/T000/B000/webhook-secret-path",
            ("http://h:1/services/T000/B000/webhook-secret-path",),
            "webhook-secret-path",
        ),
        ("a plain secret s3cr3t-value here", ("s3cr3t-value",), "s3cr3t-value"),
    ],
)
def test_redact_scrubs_tokens_webhook_urls_and_named_secrets(
    text: str, secrets: tuple[str, ...], gone: str
) -> None:
    scrubbed = redact(text, secrets)
    assert gone not in scrubbed
    assert REDACTED in scrubbed


def test_the_logging_filter_redacts_arguments_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("tests.redaction")
    logger.addFilter(RedactingFilter(["hunter2-secret"]))
    try:
        with caplog.at_level(logging.DEBUG, logger="tests.redaction"):
            try:
                raise RuntimeError("boom with hunter2-secret inside")
            except RuntimeError:
                logger.exception("failed with %s and %s", "hunter2-secret", TOKEN)
    finally:
        logger.filters.clear()
    assert "hunter2-secret" not in caplog.text
    assert TOKEN not in caplog.text
    assert "boom with [redacted] inside" in caplog.text


# ---- the real channels against the local Slack ----------------------------------------------


def test_chat_post_message_carries_blocks_and_the_dedup_metadata(slack: SlackTestServer) -> None:
    result = api_channel(slack).post([firing_content()], ["credit|drift|2024-05-01"])
    assert result.ok
    (request,) = slack.requests_to("chat.postMessage")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.body["channel"] == "C1"
    assert request.body["blocks"][0]["type"] == "header"
    assert request.body["metadata"] == {
        "event_type": "driftwise_alert",
        "event_payload": {"alerts": alert_fingerprint("credit|drift|2024-05-01")},
    }


def test_a_429_is_retried_after_retry_after(slack: SlackTestServer) -> None:
    slack.script("chat.postMessage", "rate_limited")
    started = time.monotonic()
    result = api_channel(slack).post([firing_content()], ["k"])
    assert result.ok
    first, second = slack.requests_to("chat.postMessage")
    assert (first.behaviour, second.behaviour) == ("rate_limited", "ok")
    assert second.at - first.at >= 1.0  # Retry-After: 1
    assert time.monotonic() - started < 5
    assert len(slack.messages) == 1


@pytest.mark.parametrize(
    ("behaviour", "expected", "ambiguous"),
    [
        ("server_error", "HTTP 500: server error", True),
        ("invalid_auth", "invalid_auth (Slack rejected the token)", False),
        ("hang", "no answer (TimeoutError)", True),
    ],
)
def test_failures_are_described_without_secrets(
    slack: SlackTestServer, behaviour: str, expected: str, ambiguous: bool
) -> None:
    slack.script("chat.postMessage", behaviour)
    result = api_channel(slack).post([firing_content()], ["k"])
    assert not result.ok
    assert result.channel_down
    assert expected in result.error
    assert result.ambiguous is ambiguous
    assert TOKEN not in result.error


def test_history_shows_a_post_whose_answer_was_lost(slack: SlackTestServer) -> None:
    channel = api_channel(slack)
    slack.script("chat.postMessage", "hang")
    assert not channel.post([firing_content()], ["lost-key", "other-key"]).ok
    since = datetime.now(UTC) - timedelta(minutes=5)
    assert channel.delivered(["lost-key", "never-posted"], since) == {"lost-key"}
    (history,) = slack.requests_to("conversations.history")
    assert history.body["include_all_metadata"] == "1"


def test_webhooks_post_block_kit_or_plain_json(slack: SlackTestServer) -> None:
    slack_hook = WebhookChannel(name="slack-webhook", url=SecretStr(slack.webhook_url), timeout=1)
    plain = WebhookChannel(name="pager", url=SecretStr(slack.json_webhook_url), json_body=True)
    assert slack_hook.post([firing_content()], ["k"]).ok
    assert plain.post([firing_content(), firing_content(rule="other")], ["k", "k2"]).ok
    (hook_request,) = slack.requests_to("webhook")
    assert hook_request.body["blocks"][0]["type"] == "header"
    (json_request,) = slack.requests_to("json")
    assert json_request.body["source"] == "driftwise"
    assert [a["rule"] for a in json_request.body["alerts"]] == ["dataset-drift", "other"]
    assert slack_hook.delivered(["k"], DAY1) == set()  # a webhook cannot be read back


# ---- secrets never leak ----------------------------------------------------------------------


def test_secrets_appear_in_no_log_error_or_output(
    slack: SlackTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = [TOKEN, slack.webhook_url, slack.webhook_path, slack.json_webhook_url + "?k=sekrit"]
    spec = AlertsSpec.model_validate(
        {
            "channels": [
                {"type": "slack_api", "channel": "C1"},
                {"type": "slack_webhook"},
                {"type": "webhook", "url_env": "HOOK"},
            ]
        }
    )
    configured = build_channels(
        spec,
        slack_token=SecretStr(TOKEN),
        slack_webhook_url=SecretStr(slack.webhook_url),
        webhook_urls={"HOOK": SecretStr(slack.json_webhook_url + "?k=sekrit")},
        slack_base_url=slack.base_url,
        timeout=1,
    )
    slack.script("chat.postMessage", "invalid_auth")
    slack.script("conversations.history", "invalid_auth")
    slack.script("webhook", "invalid_auth")
    slack.script("json", "invalid_auth")
    with caplog.at_level(logging.DEBUG):
        results = [c.post([firing_content()], ["k"]) for c in configured.channels]
        api = configured.channels[0]
        assert api.delivered(["k"], DAY1) == set()
    assert [r.ok for r in results] == [False, False, False]
    assert "Sending a request" in caplog.text  # slack-sdk's debug lines were captured
    exposed = caplog.text + "".join(repr(r) for r in results) + repr(configured)
    exposed += "".join(str(record.msg) for record in caplog.records)
    for secret in secrets:
        assert secret not in exposed


def test_a_client_exception_never_carries_the_url_out() -> None:
    """slack-sdk's own errors quote the URL (e.g. 'Invalid URL detected: ...')."""
    url = "ftp://hooks.internal/T1/B2/very-secret-path"
    result = WebhookChannel(name="odd", url=SecretStr(url)).post([firing_content()], ["k"])
    assert not result.ok
    assert "SlackRequestError: Invalid URL detected: [redacted]" in result.error
    assert "very-secret-path" not in result.error


def test_a_webhook_url_that_is_not_http_is_a_configuration_problem() -> None:
    spec = AlertsSpec.model_validate({"channels": [{"type": "webhook", "url_env": "HOOK"}]})
    configured = build_channels(
        spec,
        slack_token=None,
        slack_webhook_url=None,
        webhook_urls={"HOOK": SecretStr("hooks.example/very-secret-path")},
    )
    assert configured.channels == ()
    assert configured.problems == ("webhook:HOOK: the webhook URL does not start with https://",)


# ---- the CLI ---------------------------------------------------------------------------------


def write_spec(folder: Path, channels: list[dict[str, str]]) -> Path:
    spec = {
        "name": "cli-model",
        "task": "binary",
        "sources": {"predictions": {"path": "log.parquet"}, "reference": {"path": "ref.parquet"}},
        "columns": {"timestamp": "ts", "id": "id", "numerical": ["x"], "prediction": "pred"},
        "alerts": {"runbook_url": "https://wiki.example/rb", "channels": channels},
    }
    path = folder / "model.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(alerts_app, name="alerts")
    return app


def test_alerts_test_sends_to_every_channel(
    slack: SlackTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTWISE_SLACK_TOKEN", TOKEN)
    monkeypatch.setenv("DRIFTWISE_SLACK_WEBHOOK_URL", slack.webhook_url)
    monkeypatch.setenv("DRIFTWISE_SLACK_BASE_URL", slack.base_url)
    monkeypatch.setenv("PAGER_URL", slack.json_webhook_url)
    channels = [
        {"type": "slack_api", "channel": "C9"},
        {"type": "slack_webhook", "min_severity": "critical"},
        {"type": "webhook", "url_env": "PAGER_URL"},
    ]
    result = CliRunner().invoke(cli(), ["alerts", "test", str(write_spec(tmp_path, channels))])
    assert result.exit_code == 0, result.output
    for name in ("slack:C9", "slack-webhook", "webhook:PAGER_URL"):
        assert f"✓ {name}: test message sent" in result.output
    assert len(slack.messages) == 3
    assert slack.messages[0]["text"].startswith("driftwise test message for cli-model")


def test_alerts_test_says_what_failed_without_secrets(
    slack: SlackTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTWISE_SLACK_TOKEN", "xoxb-wrong-token-123")
    monkeypatch.setenv("DRIFTWISE_SLACK_WEBHOOK_URL", slack.webhook_url)
    monkeypatch.setenv("DRIFTWISE_SLACK_BASE_URL", slack.base_url)
    slack.script("webhook", "invalid_auth")
    channels = [
        {"type": "slack_api", "channel": "C9"},
        {"type": "slack_webhook"},
        {"type": "webhook", "url_env": "UNSET_HOOK_URL"},
    ]
    result = CliRunner().invoke(cli(), ["alerts", "test", str(write_spec(tmp_path, channels))])
    assert result.exit_code == 1
    assert (
        "webhook:UNSET_HOOK_URL: the environment variable UNSET_HOOK_URL is not set"
        in result.output
    )
    assert "slack:C9: Slack chat.postMessage: HTTP 200: invalid_auth" in result.output
    assert "slack-webhook: Slack webhook: HTTP 403: invalid_token" in result.output
    assert "3 of 3 channel(s) did not take the message" in result.output
    for secret in ("xoxb-wrong-token-123", slack.webhook_url, slack.webhook_path):
        assert secret not in result.output
    assert slack.messages == []
