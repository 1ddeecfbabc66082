"""Alert delivery: the outbox worker that drains pending alerts through the channels.

Alert rows commit with their window; ``deliver_pending`` runs after, and never holds a database
transaction open while it talks to a channel or waits (pacing, a capped Retry-After):

1. **claim** (one short committed transaction): the rows are marked ``sending`` with their attempt
   counted and the time of the claim, so a crash anywhere after this leaves a trace;
2. **check** (no transaction): a row that any earlier attempt touched may already be shown (the
   run died after the channel's OK, or the answer was lost): the channel's history is read and
   what it shows is marked sent instead of posted again;
3. **post** (no transaction), then **record** the outcome (one short committed transaction): sent,
   or back to pending with a redacted error, or failed after ``max_attempts``.

A row left ``sending`` longer than ``claim_lease`` belongs to a run that died mid-post; the next
run takes it over, history check first. Secrets (the bot token, webhook URLs) are passed in as
``SecretStr`` by the caller and are scrubbed from every log line, error and stored text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.alerts.channels.base import SENT, AlertChannel, PostResult
from monitoring_lib.alerts.planning import AlertContent, AlertState, StateKey
from monitoring_lib.observability.redaction import redact
from monitoring_lib.store.models import Alert

log = logging.getLogger(__name__)

SENDING = "sending"
CLAIM_LEASE = timedelta(minutes=5)
"""How long a claimed row is left to the run that claimed it: longer than any post may take (the
client's timeout, one retry, the capped Retry-After), so a row still ``sending`` after it belongs
to a run that died mid-post."""


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
    """Rows still to deliver after this run: the next run tries them again."""
    unconfirmed: int = 0
    """Rows another run claimed within the lease: posting now, or it died mid-post (then a run
    after the lease checks the channel's history and delivers them)."""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.unconfigured

    @property
    def degraded(self) -> bool:
        """An alert that should have gone out did not: a post failed, a channel is missing, a
        row was given up or is still pending. The run that delivered should say so."""
        return not self.ok or self.given_up > 0 or self.pending > 0

    def summary(self) -> str:
        text = f"{self.sent} alert(s) sent in {self.messages} message(s), {self.pending} pending"
        if self.already_shown:
            text += f", {self.already_shown} found already posted"
        if self.given_up:
            text += f", {self.given_up} given up"
        if self.unconfirmed:
            text += f", {self.unconfirmed} claimed by another run"
        for failure in self.failures:
            text += f"; {failure.channel}: {failure.error}"
        for name in self.unconfigured:
            text += f"; {name}: no such channel configured"
        return text


ModelIds = int | Collection[int] | None
"""Whose alerts a delivery run sends: one model's, a model's and its roll-ups', or all."""


def _of_models(query: Any, model_id: ModelIds) -> Any:
    if model_id is None:
        return query
    ids = [model_id] if isinstance(model_id, int) else list(model_id)
    return query.where(Alert.model_id.in_(ids))


def _outstanding(model_id: ModelIds, stale_before: datetime) -> Any:
    """Rows to deliver: pending ones, and rows a run that died left ``sending``."""
    abandoned = and_(Alert.status == SENDING, Alert.claimed_at < stale_before)
    return _of_models(select(Alert).where(or_(Alert.status == "pending", abandoned)), model_id)


@dataclass(frozen=True)
class _Claimed:
    """A claimed row, as read when it was claimed (the claim's transaction is over)."""

    id: int
    dedup_key: str
    content: AlertContent
    created_at: datetime
    touched_before: bool
    """An earlier attempt exists (failed, lost, or cut short by a crash): it may have been shown."""


@dataclass
class _Run:
    sessions: sessionmaker[Session]
    now: datetime
    model_id: ModelIds
    max_attempts: int
    pacer: Pacer
    lease: timedelta
    report: DeliveryReport = field(default_factory=DeliveryReport)
    seen: set[int] = field(default_factory=set)

    def send(self, channel: AlertChannel, limit: int) -> tuple[int, PostResult]:
        """Claim up to ``limit`` rows, post them as one message, record the outcome; returns the
        rows handled and how the post went."""
        handled, claimed = self._claim(channel, limit)
        unsent = self._drop_already_shown(channel, claimed)
        if not unsent:
            return handled, SENT
        self.pacer.wait(channel.name, channel.pacing.min_interval)
        result = channel.post([c.content for c in unsent], [c.dedup_key for c in unsent])
        self.pacer.posted(channel.name)
        self._record(channel, unsent, result)
        return handled, result

    def _claim(self, channel: AlertChannel, limit: int) -> tuple[int, list[_Claimed]]:
        """Mark up to ``limit`` rows ``sending`` and count their attempt, committed before any
        post. Rows another run holds are skipped (FOR UPDATE SKIP LOCKED; SQLite has one
        writer), and rows whose content does not parse fail for good (no retry fixes them)."""
        query = _outstanding(self.model_id, self.now - self.lease).where(
            Alert.channel == channel.name, Alert.id.not_in(self.seen)
        )
        query = query.order_by(Alert.id).limit(limit).with_for_update(skip_locked=True)
        claimed = []
        with self.sessions.begin() as session:
            rows = list(session.execute(query).scalars())
            for row in rows:
                self.seen.add(row.id)
                touched = row.attempts > 0 or row.status == SENDING
                row.attempts += 1
                try:
                    content = AlertContent.from_json(row.content)
                except (TypeError, ValueError) as error:
                    row.status = "failed"
                    row.last_error = redact(f"stored alert content is unreadable: {error}")[:1000]
                    self.report.given_up += 1
                    continue
                row.status, row.claimed_at = SENDING, self.now
                claimed.append(_Claimed(row.id, row.dedup_key, content, row.created_at, touched))
        return len(rows), claimed

    def _drop_already_shown(self, channel: AlertChannel, claimed: list[_Claimed]) -> list[_Claimed]:
        """Rows an earlier attempt touched are looked up in the channel's history first; those
        it shows are marked sent, not posted again."""
        touched = [c for c in claimed if c.touched_before]
        if not touched:
            return claimed
        since = min(c.created_at for c in touched) - timedelta(minutes=5)
        shown = channel.delivered([c.dedup_key for c in touched], since)
        found = [c for c in touched if c.dedup_key in shown]
        if found:
            with self.sessions.begin() as session:
                for row in _rows(session, found):
                    _mark_sent(row, self.now)
            self.report.sent += len(found)
            self.report.already_shown += len(found)
        return [c for c in claimed if c.dedup_key not in shown]

    def _record(self, channel: AlertChannel, posted: list[_Claimed], result: PostResult) -> None:
        with self.sessions.begin() as session:
            rows = _rows(session, posted)
            for row in rows:
                if result.ok:
                    _mark_sent(row, self.now)
                    continue
                row.last_error, row.claimed_at = result.error, None
                row.status = "pending"
                if row.attempts >= self.max_attempts:
                    row.status = "failed"
                    self.report.given_up += 1
        if result.ok:
            self.report.sent += len(posted)
            self.report.messages += 1
            return
        ids = tuple(c.id for c in posted)
        self.report.failures.append(DeliveryFailure(channel.name, ids, result.error))
        log.warning("alerts %s not delivered to %s: %s", ids, channel.name, result.error)


def _rows(session: Session, claimed: Sequence[_Claimed]) -> list[Alert]:
    query = select(Alert).where(Alert.id.in_([c.id for c in claimed])).order_by(Alert.id)
    return list(session.execute(query.with_for_update()).scalars())


def _mark_sent(row: Alert, now: datetime) -> None:
    row.status, row.sent_at, row.last_error, row.claimed_at = "sent", now, None, None


def deliver_pending(
    sessions: sessionmaker[Session],
    channels: Sequence[AlertChannel],
    *,
    now: datetime,
    max_per_run: int = 100,
    model_id: ModelIds = None,
    max_attempts: int = 20,
    pacer: Pacer | None = None,
    claim_lease: timedelta = CLAIM_LEASE,
) -> DeliveryReport:
    """Post outstanding outbox rows (oldest first, at most ``max_per_run``). A channel with more
    than its ``digest_after`` rows gets one digest; otherwise one message per alert, paced.
    A channel that fails is left alone for the rest of the run; its rows stay pending.

    ``now`` is the wall-clock time of this run: rows are marked sent and claimed at it, and a
    claim older than ``claim_lease`` is taken for abandoned."""
    run = _Run(sessions, now, model_id, max_attempts, pacer or Pacer(), claim_lease)
    by_name = {channel.name: channel for channel in channels}
    outstanding = _outstanding(model_id, now - claim_lease)
    with sessions() as session:
        counts = session.execute(
            outstanding.with_only_columns(Alert.channel, func.count())
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
        run.report.pending = int(
            session.execute(outstanding.with_only_columns(func.count())).scalar_one()
        )
        live = Alert.status == SENDING, Alert.claimed_at >= now - claim_lease
        claimed = select(func.count()).select_from(Alert).where(*live)
        claimed = _of_models(claimed, model_id)
        run.report.unconfirmed = int(session.execute(claimed).scalar_one())
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
