"""Alert delivery: channels that post (Slack Web API, Slack incoming webhook, JSON webhook) and the
outbox worker that drains pending alerts through them.

Alert rows commit with their window; ``deliver_pending`` runs after. A failed post leaves the row
pending with its attempt counted and a redacted error, and the next run tries again. Secrets (the
bot token, webhook URLs) are passed in as ``SecretStr`` by the caller, from the settings or a
Prefect Secret block, and are scrubbed from every log line, error and stored text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.alerts.channels.base import (
    SENT,
    AlertChannel,
    PostResult,
)
from monitoring_lib.alerts.planning import (
    AlertContent,
    AlertState,
    StateKey,
)
from monitoring_lib.observability.redaction import redact
from monitoring_lib.store.models import Alert

log = logging.getLogger(__name__)

# ---- redaction ------------------------------------------------------------------------------


# ---- channels -------------------------------------------------------------------------------


# ---- the outbox -----------------------------------------------------------------------------


class Pacer:
    """Keeps ``interval`` seconds between two posts to one channel (Slack: about one a second)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock, self._sleep = clock, sleep
        self._last: dict[str, float] = {}

    def wait(self, channel: str, interval: float) -> None:
        last = self._last.get(channel)
        if last is not None:
            self._sleep(max(0.0, last + interval - self._clock()))

    def posted(self, channel: str) -> None:
        self._last[channel] = self._clock()


@dataclass(frozen=True)
class DeliveryFailure:
    channel: str
    alert_ids: tuple[int, ...]
    error: str


@dataclass
class DeliveryReport:
    """What one delivery run did; every text in it is redacted."""

    sent: int = 0
    """Alert rows marked sent."""
    messages: int = 0
    """Messages posted (a digest of many alerts counts once)."""
    already_shown: int = 0
    """Rows an earlier, unacknowledged post had delivered (found in the channel's history)."""
    failures: list[DeliveryFailure] = field(default_factory=list)
    unconfigured: list[str] = field(default_factory=list)
    """Channels with pending alerts but no configured channel (spec changed, secret missing)."""
    given_up: int = 0
    """Rows marked failed after ``max_attempts``."""
    pending: int = 0
    """Rows still pending after this run: the next run tries them again."""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.unconfigured

    def summary(self) -> str:
        text = f"{self.sent} alert(s) sent in {self.messages} message(s), {self.pending} pending"
        if self.already_shown:
            text += f", {self.already_shown} found already posted"
        for failure in self.failures:
            text += f"; {failure.channel}: {failure.error}"
        for name in self.unconfigured:
            text += f"; {name}: no such channel configured"
        return text


def _pending(model_id: int | None) -> Any:
    query = select(Alert).where(Alert.status == "pending")
    return query if model_id is None else query.where(Alert.model_id == model_id)


def _claim(
    session: Session, channel: str, limit: int, model_id: int | None, skip: set[int]
) -> list[Alert]:
    """Lock up to ``limit`` pending rows of a channel; rows another run holds are skipped, so two
    concurrent runs never post one row twice (SQLite ignores FOR UPDATE: it has one writer)."""
    query = _pending(model_id).where(Alert.channel == channel, Alert.id.not_in(skip))
    query = query.order_by(Alert.id).limit(limit).with_for_update(skip_locked=True)
    return list(session.execute(query).scalars())


def _mark_sent(rows: Iterable[Alert], now: datetime) -> None:
    for row in rows:
        row.status, row.sent_at, row.last_error = "sent", now, None


@dataclass
class _Run:
    sessions: sessionmaker[Session]
    now: datetime
    model_id: int | None
    max_attempts: int
    pacer: Pacer
    report: DeliveryReport = field(default_factory=DeliveryReport)
    seen: set[int] = field(default_factory=set)

    def send(self, channel: AlertChannel, limit: int) -> tuple[int, PostResult]:
        """Claim up to ``limit`` rows, post them as one message, record the outcome."""
        with self.sessions.begin() as session:
            rows = _claim(session, channel.name, limit, self.model_id, self.seen)
            self.seen.update(row.id for row in rows)
            unsent = self._readable(self._drop_already_shown(channel, rows))
            if not unsent:
                return len(rows), SENT
            contents = [AlertContent.from_json(row.content) for row in unsent]
            self.pacer.wait(channel.name, channel.pacing.min_interval)
            result = channel.post(contents, [row.dedup_key for row in unsent])
            self.pacer.posted(channel.name)
            self._record(channel, unsent, result)
            return len(rows), result

    def _readable(self, rows: list[Alert]) -> list[Alert]:
        """Rows whose stored content parses; the others fail for good (no retry can fix them)."""
        readable = []
        for row in rows:
            try:
                AlertContent.from_json(row.content)
            except (TypeError, ValueError) as error:
                row.status, row.attempts = "failed", row.attempts + 1
                row.last_error = redact(f"stored alert content is unreadable: {error}")[:1000]
                self.report.given_up += 1
            else:
                readable.append(row)
        return readable

    def _drop_already_shown(self, channel: AlertChannel, rows: list[Alert]) -> list[Alert]:
        retried = [row for row in rows if row.attempts > 0]
        if not retried:
            return rows
        since = min(row.created_at for row in retried) - timedelta(minutes=5)
        shown = channel.delivered([row.dedup_key for row in retried], since)
        _mark_sent([row for row in rows if row.dedup_key in shown], self.now)
        self.report.sent += len(shown)
        self.report.already_shown += len(shown)
        return [row for row in rows if row.dedup_key not in shown]

    def _record(self, channel: AlertChannel, rows: list[Alert], result: PostResult) -> None:
        if result.ok:
            _mark_sent(rows, self.now)
            self.report.sent += len(rows)
            self.report.messages += 1
            return
        for row in rows:
            row.attempts += 1
            row.last_error = result.error
            if row.attempts >= self.max_attempts:
                row.status = "failed"
                self.report.given_up += 1
        ids = tuple(row.id for row in rows)
        self.report.failures.append(DeliveryFailure(channel.name, ids, result.error))
        log.warning("alerts %s not delivered to %s: %s", ids, channel.name, result.error)


def deliver_pending(
    sessions: sessionmaker[Session],
    channels: Sequence[AlertChannel],
    *,
    now: datetime,
    max_per_run: int = 100,
    model_id: int | None = None,
    max_attempts: int = 20,
    pacer: Pacer | None = None,
) -> DeliveryReport:
    """Post pending outbox rows (oldest first, at most ``max_per_run``). A channel with more than
    its ``digest_after`` pending rows gets one digest; otherwise one message per alert, paced.
    A channel that fails is left alone for the rest of the run; its rows stay pending."""
    run = _Run(sessions, now, model_id, max_attempts, pacer or Pacer())
    by_name = {channel.name: channel for channel in channels}
    with sessions() as session:
        counts = session.execute(
            _pending(model_id)
            .with_only_columns(Alert.channel, func.count())
            .group_by(Alert.channel)
            .order_by(Alert.channel)
        ).all()
    budget = max_per_run
    for name, count in counts:
        channel = by_name.get(name)
        if channel is None:
            run.report.unconfigured.append(name)
            continue
        budget -= _drain(run, channel, min(count, budget))
        if budget <= 0:
            break
    with sessions() as session:
        query = _pending(model_id).with_only_columns(func.count())
        run.report.pending = int(session.execute(query).scalar_one())
    return run.report


def _drain(run: _Run, channel: AlertChannel, count: int) -> int:
    """Rows of one channel handled: one digest for a burst, else one paced message per row."""
    if count > channel.pacing.digest_after:
        return run.send(channel, count)[0]
    handled = 0
    while handled < count:
        claimed, result = run.send(channel, 1)
        handled += claimed
        if claimed == 0 or result.channel_down:
            break
    return handled


def previous_alert_states(
    session: Session, model_id: int, before: datetime
) -> dict[StateKey, AlertState]:
    """The last firing or resolved row per (rule, channel) of windows before ``before``: what
    ``alerts.plan_alerts`` remembers, so a rerun or backfill plans what the live run did."""
    query = (
        select(Alert.rule, Alert.channel, Alert.kind, Alert.severity, Alert.window_start)
        .where(
            Alert.model_id == model_id,
            Alert.window_start < before,
            Alert.kind.in_(("firing", "resolved")),
        )
        .order_by(Alert.window_start, Alert.id)
    )
    states: dict[StateKey, AlertState] = {}
    for rule, channel, kind, severity, start in session.execute(query):
        if start is not None:  # the WHERE clause excludes NULL; this tells the type checker
            states[(rule, channel)] = AlertState.of(kind, severity, start)
    return states
