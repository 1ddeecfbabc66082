"""The alert outbox on real PostgreSQL, delivered through the real slack-sdk clients to a local
Slack stand-in: normal posts, Slack down, lost answers, rate limits, bursts, reruns, and two
delivery runs at once."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.alerts.channels.base import SENT, Pacing, PostResult
from monitoring_lib.alerts.channels.slack_api import SlackApiChannel
from monitoring_lib.alerts.channels.webhook import WebhookChannel
from monitoring_lib.alerts.outbox import deliver_pending, previous_alert_states
from monitoring_lib.alerts.planning import (
    AlertContent,
    AlertContext,
    Breach,
    DriftedColumn,
    plan_alerts,
)
from monitoring_lib.spec.alerts import AlertsSpec
from monitoring_lib.store.engine import session_factory
from monitoring_lib.store.models import Alert
from monitoring_lib.store.repository import AlertDraft, enqueue_alerts, ensure_model
from monitoring_lib.windows import Window, window_starting_on
from tests.slack_server import SlackTestServer

pytestmark = pytest.mark.postgres

TOKEN = "xoxb-1111-2222-OutboxSecretToken"
NOW = datetime(2024, 5, 10, 8, 0, tzinfo=UTC)
SPEC = AlertsSpec.model_validate(
    {
        "runbook_url": "https://wiki.example/rb",
        "channels": [
            {"type": "slack_api", "channel": "C1", "min_interval_seconds": 0, "cooldown": "7d"}
        ],
    }
)


@pytest.fixture
def slack() -> Iterator[SlackTestServer]:
    with SlackTestServer(token=TOKEN, retry_after=1, hang_seconds=2.5, lifetime=30) as server:
        yield server


def window(day: int) -> Window:
    return window_starting_on(date(2024, 5, 1) + timedelta(days=day), timedelta(days=1), "UTC")


def api_channel(base_url: str, min_interval: float = 0.0, digest_after: int = 5) -> SlackApiChannel:
    return SlackApiChannel(
        name="slack:C1",
        channel="C1",
        token=SecretStr(TOKEN),
        base_url=base_url,
        timeout=1,
        pacing=Pacing(min_interval, digest_after),
        retry_interval=0.05,
    )


def enqueue(
    sessions: sessionmaker[Session],
    day: int,
    rules: Sequence[str] = ("drift",),
    cleared: Sequence[str] = (),
    spec: AlertsSpec = SPEC,
) -> list[AlertDraft]:
    """Plan one window's alerts from the outbox's memory and commit them, as a monitor run does."""
    with sessions.begin() as session:
        model = ensure_model(session, "credit", "binary")
        current = window(day)
        context = AlertContext(
            "credit",
            current.start,
            current.label,
            decision="alert",
            top_drifted=(DriftedColumn("income", 0.4),),
            prefect_run_url="https://prefect.example/runs/1",
        )
        firing = [Breach(rule, "drift.share", 0.7, 0.5) for rule in rules]
        states = previous_alert_states(session, model, current.start)
        drafts = plan_alerts(context, firing, set(cleared), states, spec)
        enqueue_alerts(session, model, current, drafts)
    return drafts


def rows(sessions: sessionmaker[Session]) -> list[Alert]:
    with sessions() as session:
        return list(session.execute(select(Alert).order_by(Alert.id)).scalars())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_normal_post_marks_the_alert_sent(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    enqueue(pg_sessions, 0)
    report = deliver_pending(pg_sessions, [api_channel(slack.base_url)], now=NOW)
    assert (report.sent, report.messages, report.pending, report.ok) == (1, 1, 0, True)
    (row,) = rows(pg_sessions)
    assert (row.status, row.sent_at, row.attempts, row.last_error) == ("sent", NOW, 1, None)
    (message,) = slack.messages
    assert message["channel"] == "C1"
    assert "drift.share: 0.7 &gt; 0.5" in message["text"]
    assert deliver_pending(pg_sessions, [api_channel(slack.base_url)], now=NOW).messages == 0


@pytest.mark.parametrize("outage", ["server_error", "refused"])
def test_slack_down_keeps_the_alert_pending_and_a_later_run_sends_it_once(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer, outage: str
) -> None:
    enqueue(pg_sessions, 0)
    if outage == "server_error":
        slack.script("chat.postMessage", "server_error")
        down = api_channel(slack.base_url)
    else:
        down = api_channel(f"http://127.0.0.1:{closed_port()}/api/")
    report = deliver_pending(pg_sessions, [down], now=NOW)
    assert (report.sent, report.pending, report.ok) == (0, 1, False)
    (row,) = rows(pg_sessions)
    assert (row.status, row.attempts) == ("pending", 1)
    expected = (
        "HTTP 500" if outage == "server_error" else "could not connect (ConnectionRefusedError"
    )
    assert expected in (row.last_error or "")
    assert expected in report.summary()
    for _later_run in range(2):
        deliver_pending(pg_sessions, [api_channel(slack.base_url)], now=NOW + timedelta(days=1))
    assert len(slack.messages) == 1
    (row,) = rows(pg_sessions)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)


def test_a_timeout_after_slack_accepted_does_not_post_twice(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    enqueue(pg_sessions, 0)
    slack.script("chat.postMessage", "hang")
    first = deliver_pending(pg_sessions, [api_channel(slack.base_url)], now=NOW)
    assert (first.sent, first.pending) == (0, 1)
    assert "the message may have been posted" in first.failures[0].error
    second = deliver_pending(pg_sessions, [api_channel(slack.base_url)], now=NOW)
    assert (second.sent, second.messages, second.already_shown) == (1, 0, 1)
    assert len(slack.requests_to("chat.postMessage")) == 1
    assert len(slack.messages) == 1
    assert rows(pg_sessions)[0].status == "sent"


def test_a_timeout_on_a_webhook_is_retried_and_may_show_twice(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    """Slack offers no way to read an incoming webhook back: the documented limitation."""
    spec = AlertsSpec.model_validate({"channels": [{"type": "slack_webhook"}]})
    enqueue(pg_sessions, 0, spec=spec)
    hook = WebhookChannel(name="slack-webhook", url=SecretStr(slack.webhook_url), timeout=1)
    slack.script("webhook", "hang")
    assert deliver_pending(pg_sessions, [hook], now=NOW).pending == 1
    assert deliver_pending(pg_sessions, [hook], now=NOW).sent == 1
    assert len(slack.requests_to("webhook")) == 2


def test_a_429_is_waited_out_within_the_run(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    enqueue(pg_sessions, 0)
    slack.script("chat.postMessage", "rate_limited")
    report = deliver_pending(pg_sessions, [api_channel(slack.base_url)], now=NOW)
    assert (report.sent, report.messages) == (1, 1)
    limited, accepted = slack.requests_to("chat.postMessage")
    assert accepted.at - limited.at >= 1.0
    assert len(slack.messages) == 1


def test_posts_to_one_channel_are_a_second_apart(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    enqueue(pg_sessions, 0, rules=("drift", "accuracy"))
    report = deliver_pending(pg_sessions, [api_channel(slack.base_url, min_interval=1.0)], now=NOW)
    assert (report.sent, report.messages) == (2, 2)
    first, second = slack.requests_to("chat.postMessage")
    assert second.at - first.at >= 0.99


def test_a_burst_becomes_one_digest(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    enqueue(pg_sessions, 0, rules=[f"rule-{i}" for i in range(8)])
    report = deliver_pending(pg_sessions, [api_channel(slack.base_url, digest_after=5)], now=NOW)
    assert (report.sent, report.messages) == (8, 1)
    (message,) = slack.messages
    assert message["blocks"][0]["text"]["text"].endswith("driftwise: 8 alerts")
    assert len(message["metadata"]["event_payload"]["alerts"].split()) == 8
    assert {row.status for row in rows(pg_sessions)} == {"sent"}


def test_reruns_and_a_persisting_breach_post_once_then_resolve_once(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    channel = api_channel(slack.base_url)
    plan = [("drift",), ("drift",), ("drift",), ()]
    for day, rules in enumerate(plan):
        for _rerun in range(2):  # a rerun or a backfill of the same window
            enqueue(pg_sessions, day, rules=rules, cleared=() if rules else ("drift",))
            deliver_pending(pg_sessions, [channel], now=NOW)
    texts = [m["text"] for m in slack.messages]
    assert len(texts) == 2
    assert texts[0].startswith("[WARNING] credit 2024-05-01: drift.share")
    assert texts[1] == "RESOLVED credit 2024-05-04: drift is back to normal"
    assert [(r.kind, r.window_start) for r in rows(pg_sessions)] == [
        ("firing", window(0).start),
        ("resolved", window(3).start),
    ]


def test_previous_states_come_from_windows_before_the_one_planned(
    pg_sessions: sessionmaker[Session],
) -> None:
    enqueue(pg_sessions, 0)
    enqueue(pg_sessions, 2, rules=(), cleared=("drift",))
    with pg_sessions() as session:
        model = ensure_model(session, "credit", "binary")
        before_resolution = previous_alert_states(session, model, window(2).start)
        after = previous_alert_states(session, model, window(3).start)
        first_window = previous_alert_states(session, model, window(0).start)
    assert before_resolution[("drift", "slack:C1")].kind == "firing"
    assert after[("drift", "slack:C1")].kind == "resolved"
    assert first_window == {}


@dataclass
class SlowChannel:
    """An in-memory channel that takes its time, so two delivery runs overlap."""

    name: str = "slack:C1"
    pacing: Pacing = field(default_factory=lambda: Pacing(0.0, 1000))
    posted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, contents: Sequence[AlertContent], dedup_keys: Sequence[str]) -> PostResult:
        time.sleep(0.05)
        with self.lock:
            self.posted.extend(dedup_keys)
        return SENT

    def delivered(self, dedup_keys: Sequence[str], since: datetime) -> set[str]:
        return set()


def test_two_runs_at_once_never_send_one_alert_twice(pg_sessions: sessionmaker[Session]) -> None:
    enqueue(pg_sessions, 0, rules=[f"rule-{i}" for i in range(12)])
    channel = SlowChannel()
    reports = []

    def deliver() -> None:
        reports.append(deliver_pending(pg_sessions, [channel], now=NOW))

    workers = [threading.Thread(target=deliver) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert sorted(channel.posted) == sorted(r.dedup_key for r in rows(pg_sessions))
    assert len(channel.posted) == 12
    assert all(report.sent > 0 for report in reports)  # the work was shared, not serialised


@dataclass
class ScriptedChannel(SlowChannel):
    results: list[PostResult] = field(default_factory=list)

    def post(self, contents: Sequence[AlertContent], dedup_keys: Sequence[str]) -> PostResult:
        return self.results.pop(0) if self.results else SENT


def test_a_bad_message_fails_alone_and_is_given_up_after_max_attempts(
    pg_sessions: sessionmaker[Session],
) -> None:
    enqueue(pg_sessions, 0, rules=("a", "b"))
    bad = PostResult(False, "Slack chat.postMessage: HTTP 200: invalid_blocks")
    channel = ScriptedChannel(results=[bad, SENT, bad])
    first = deliver_pending(pg_sessions, [channel], now=NOW, max_attempts=2)
    assert (first.sent, first.pending, first.given_up) == (1, 1, 0)
    second = deliver_pending(pg_sessions, [channel], now=NOW, max_attempts=2)
    assert (second.sent, second.pending, second.given_up) == (0, 0, 1)
    assert [(r.status, r.attempts) for r in rows(pg_sessions)] == [("failed", 2), ("sent", 1)]


def test_unconfigured_channels_and_the_run_budget_are_reported(
    pg_sessions: sessionmaker[Session],
) -> None:
    spec = AlertsSpec.model_validate(
        {"channels": [{"type": "slack_api", "channel": "C1"}, {"type": "slack_webhook"}]}
    )
    enqueue(pg_sessions, 0, rules=("a", "b", "c"), spec=spec)
    report = deliver_pending(pg_sessions, [ScriptedChannel()], now=NOW, max_per_run=2)
    assert (report.sent, report.pending, report.unconfigured) == (2, 4, ["slack-webhook"])
    assert not report.ok
    assert "slack-webhook: no such channel configured" in report.summary()


def test_the_sqlite_store_delivers_too(sqlite_engine: Engine, slack: SlackTestServer) -> None:
    sessions = session_factory(sqlite_engine)
    enqueue(sessions, 0, rules=("a", "b"))
    report = deliver_pending(sessions, [api_channel(slack.base_url)], now=NOW)
    assert (report.sent, report.messages, report.pending) == (2, 2, 0)


def test_no_secret_reaches_logs_the_store_or_the_report(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    spec = AlertsSpec.model_validate(
        {"channels": [{"type": "slack_api", "channel": "C1"}, {"type": "slack_webhook"}]}
    )
    enqueue(pg_sessions, 0, spec=spec)
    with pg_sessions.begin() as session:  # an earlier attempt, so the history check runs too
        session.query(Alert).update({Alert.attempts: 1})
    for endpoint in ("chat.postMessage", "conversations.history", "webhook"):
        slack.script(endpoint, "invalid_auth")
    hook = WebhookChannel(name="slack-webhook", url=SecretStr(slack.webhook_url), timeout=1)
    with caplog.at_level(logging.DEBUG):
        report = deliver_pending(pg_sessions, [api_channel(slack.base_url), hook], now=NOW)
    assert report.pending == 2
    assert len(report.failures) == 2
    assert "Sending a request - url: [redacted]" in caplog.text  # slack-sdk's own debug line
    stored = " ".join(row.last_error or "" for row in rows(pg_sessions))
    assert "invalid_auth" in stored
    assert "invalid_token" in stored
    exposed = caplog.text + stored + report.summary() + repr(report)
    for secret in (TOKEN, slack.webhook_url, slack.webhook_path):
        assert secret not in exposed
