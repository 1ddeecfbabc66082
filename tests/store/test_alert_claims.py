"""The outbox against crashes and waits, on real PostgreSQL through slack-sdk to the local Slack:
a process killed right after Slack's OK is not posted again, a 429 is waited out as long as
Retry-After says but no longer than the cap, and no database transaction stays open while a
delivery run waits or talks to Slack."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.alerts.channels.base import Pacing
from monitoring_lib.alerts.channels.slack_api import SlackApiChannel
from monitoring_lib.alerts.outbox import CLAIM_LEASE, Pacer, deliver_pending
from tests.slack_server import SlackTestServer
from tests.store.test_alert_delivery import NOW, TOKEN, api_channel, enqueue, rows

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import os, sys
from datetime import datetime
from pydantic import SecretStr
from monitoring_lib.alerts.channels.base import Pacing
from monitoring_lib.alerts.channels.slack_api import SlackApiChannel
from monitoring_lib.alerts.outbox import deliver_pending
from monitoring_lib.store.engine import make_engine, session_factory

url, base_url, token, now, when = sys.argv[1:]

class Dies(SlackApiChannel):
    def post(self, contents, dedup_keys):
        if when == "before_post":
            os._exit(9)
        result = super().post(contents, dedup_keys)
        if result.ok:
            os._exit(9)  # between Slack's OK and the outbox's commit
        return result

channel = Dies(name="slack:C1", channel="C1", token=SecretStr(token), base_url=base_url,
               timeout=1, pacing=Pacing(0.0, 5))
deliver_pending(session_factory(make_engine(url)), [channel], now=datetime.fromisoformat(now))
sys.exit(0)
"""


def delivery_process_killed(
    sessions: sessionmaker[Session], slack: SlackTestServer, when: str
) -> int:
    """Deliver in another process that dies (os._exit) at ``when``; its exit code."""
    url = sessions.kw["bind"].url.render_as_string(hide_password=False)
    args = [sys.executable, "-c", CHILD, url, slack.base_url, TOKEN, NOW.isoformat(), when]
    return subprocess.run(args, cwd=ROOT, timeout=120, check=False).returncode


@pytest.fixture
def slack() -> Iterator[SlackTestServer]:
    with SlackTestServer(token=TOKEN, retry_after=3, lifetime=60) as server:
        yield server


def test_a_run_killed_right_after_slacks_ok_does_not_post_again(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    enqueue(pg_sessions, 0)
    assert delivery_process_killed(pg_sessions, slack, "after_ok") == 9
    assert len(slack.messages) == 1
    (row,) = rows(pg_sessions)
    assert (row.status, row.attempts, row.claimed_at) == ("sending", 1, NOW)  # committed first
    channel = api_channel(slack.base_url)
    soon = deliver_pending(pg_sessions, [channel], now=NOW + timedelta(minutes=1))
    assert (soon.messages, soon.pending, soon.unconfirmed) == (0, 0, 1)
    later = deliver_pending(pg_sessions, [channel], now=NOW + CLAIM_LEASE + timedelta(seconds=1))
    assert (later.sent, later.messages, later.already_shown, later.pending) == (1, 0, 1, 0)
    assert len(slack.requests_to("chat.postMessage")) == 1
    assert len(slack.messages) == 1
    (row,) = rows(pg_sessions)
    assert (row.status, row.attempts) == ("sent", 2)


def test_a_run_killed_before_it_posted_is_sent_once_by_a_later_run(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    enqueue(pg_sessions, 0)
    assert delivery_process_killed(pg_sessions, slack, "before_post") == 9
    assert slack.messages == []
    later = deliver_pending(
        pg_sessions, [api_channel(slack.base_url)], now=NOW + CLAIM_LEASE + timedelta(seconds=1)
    )
    assert (later.sent, later.messages, later.already_shown) == (1, 1, 0)
    assert len(slack.requests_to("conversations.history")) == 1  # it looked before posting
    assert len(slack.messages) == 1


def test_a_429_waits_at_least_as_long_as_retry_after_says(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    enqueue(pg_sessions, 0)
    slack.script("chat.postMessage", "rate_limited")
    report = deliver_pending(pg_sessions, [api_channel(slack.base_url)], now=NOW)
    assert (report.sent, report.messages) == (1, 1)
    limited, accepted = slack.requests_to("chat.postMessage")
    assert limited.behaviour == "rate_limited"
    assert accepted.at - limited.at >= 3.0  # the server's own clock: Retry-After is 3


def test_a_retry_after_longer_than_the_cap_is_not_waited_out(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    enqueue(pg_sessions, 0)
    slack.retry_after = 3
    slack.script("chat.postMessage", "rate_limited")
    capped = SlackApiChannel(
        name="slack:C1", channel="C1", token=SecretStr(TOKEN), base_url=slack.base_url,
        timeout=1, pacing=Pacing(0.0, 5), max_retry_after=1.0,
    )  # fmt: skip
    report = deliver_pending(pg_sessions, [capped], now=NOW)
    assert (report.sent, report.pending, report.degraded) == (0, 1, True)
    assert len(slack.requests_to("chat.postMessage")) == 1
    assert "HTTP 429" in report.failures[0].error
    assert "DRIFTWISE_ALERT_MAX_RETRY_AFTER_SECONDS" in report.failures[0].error
    (row,) = rows(pg_sessions)
    assert (row.status, row.attempts) == ("pending", 1)
    assert deliver_pending(pg_sessions, [capped], now=NOW).sent == 1  # the next run delivers


def open_transactions(sessions: sessionmaker[Session]) -> list[str]:
    """Connections to the test database idle inside a transaction, seen from a fresh one."""
    engine = sessions.kw["bind"]
    with engine.connect() as probe:
        return list(
            probe.execute(
                text(
                    "SELECT state FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
                )
            ).scalars()
        )


def test_no_transaction_is_open_while_a_run_waits(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    """Pacing between posts and the Retry-After wait both happen outside any transaction."""
    enqueue(pg_sessions, 0, rules=("drift", "accuracy"))
    seen: list[tuple[str, list[str]]] = []

    def watched(kind: str) -> object:
        def sleep(seconds: float) -> None:
            seen.append((kind, open_transactions(pg_sessions)))

        return sleep

    slack.retry_after = 0
    slack.script("chat.postMessage", "rate_limited")
    channel = SlackApiChannel(
        name="slack:C1", channel="C1", token=SecretStr(TOKEN), base_url=slack.base_url,
        timeout=1, pacing=Pacing(1.0, 5), sleep=watched("retry-after"),  # type: ignore[arg-type]
    )  # fmt: skip
    pacer = Pacer(sleep=watched("pacing"))  # type: ignore[arg-type]
    report = deliver_pending(pg_sessions, [channel], now=NOW, pacer=pacer)
    assert (report.sent, report.messages) == (2, 2)
    assert [kind for kind, _ in seen] == ["retry-after", "pacing"]
    assert all(states == [] for _, states in seen)


def test_a_row_whose_content_does_not_parse_fails_alone_without_a_post(
    pg_sessions: sessionmaker[Session], slack: SlackTestServer
) -> None:
    enqueue(pg_sessions, 0, rules=("drift", "accuracy"))
    with pg_sessions.begin() as session:
        first = rows(pg_sessions)[0]
        session.execute(
            text("UPDATE alerts SET content = '{\"garbage\": 1}' WHERE id = :id"), {"id": first.id}
        )
    report = deliver_pending(pg_sessions, [api_channel(slack.base_url)], now=NOW)
    assert (report.sent, report.messages, report.given_up, report.degraded) == (1, 1, 1, True)
    assert [(r.status, r.attempts) for r in rows(pg_sessions)] == [("failed", 1), ("sent", 1)]
    assert "stored alert content is unreadable" in (rows(pg_sessions)[0].last_error or "")
