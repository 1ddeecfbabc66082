"""Alert delivery: channels that post (Slack Web API, Slack incoming webhook, JSON webhook) and the
outbox worker that drains pending alerts through them.

Alert rows commit with their window; ``deliver_pending`` runs after. A failed post leaves the row
pending with its attempt counted and a redacted error, and the next run tries again. Secrets (the
bot token, webhook URLs) are passed in as ``SecretStr`` by the caller, from the settings or a
Prefect Secret block, and are scrubbed from every log line, error and stored text.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.error import URLError

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    FixedValueRetryIntervalCalculator,
    RateLimitErrorRetryHandler,
    RetryHandler,
)
from slack_sdk.webhook import WebhookClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from monitoring_lib.alerts.channels.extra import extra_channel
from monitoring_lib.alerts.planning import (
    AlertContent,
    AlertState,
    StateKey,
    json_payload,
    slack_message,
)
from monitoring_lib.settings import DriftwiseSettings, environment_secret
from monitoring_lib.spec.alerts import (
    EXTRA_CHANNEL_SPECS,
    AlertsSpec,
    SlackApiChannelSpec,
    SlackWebhookChannelSpec,
)
from monitoring_lib.store.models import Alert

log = logging.getLogger(__name__)

# ---- redaction ------------------------------------------------------------------------------

REDACTED = "[redacted]"
_SLACK_TOKEN = re.compile(r"xox[abprs]-[A-Za-z0-9-]+")
_SLACK_HOOK = re.compile(r"https?://hooks\.slack(?:-gov)?\.com/\S+", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without Slack tokens, Slack webhook URLs or any of ``secrets`` (nor a secret URL's
    path, which some clients log without the host)."""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, REDACTED)
        path = re.sub(r"^[a-z][a-z0-9+.-]*://[^/]*", "", secret, flags=re.IGNORECASE)
        if len(path) >= 8 and path != secret:
            text = text.replace(path, REDACTED)
    return _SLACK_HOOK.sub(REDACTED, _SLACK_TOKEN.sub(REDACTED, text))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message through ``redact`` before any handler formats it."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        if record.exc_info:
            record.exc_text = redact(
                logging.Formatter().formatException(record.exc_info), self.secrets
            )
            record.exc_info = None
        return True


def _client_logger(name: str, secrets: Sequence[str]) -> logging.Logger:
    """A logger private to one client: slack-sdk logs URLs (a webhook URL is the secret) at debug
    level. Unregistered, so its filter dies with the channel; it still propagates to ours."""
    logger = logging.Logger(f"{__name__}.{name}")
    logger.parent = log
    logger.addFilter(RedactingFilter(secrets))
    return logger


# ---- channels -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostResult:
    """How one post went, in words fit for logs and the store (already redacted)."""

    ok: bool
    error: str = ""
    channel_down: bool = False
    """Stop posting to this channel in this run (down, rate limited, refused credentials)."""
    ambiguous: bool = False
    """The message may have been shown although the post failed (timeout, 5xx)."""


SENT = PostResult(ok=True)
_METADATA_TYPE = "driftwise_alert"


def alert_fingerprint(dedup_key: str) -> str:
    """A short stand-in for a dedup key in Slack message metadata."""
    return hashlib.sha256(dedup_key.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class Pacing:
    min_interval: float = 1.0
    """Least seconds between two posts to the channel."""
    digest_after: int = 5
    """More pending alerts than this, in one run, go out as one digest."""


class AlertChannel(Protocol):
    """Somewhere alerts are posted; ``name`` matches the outbox's ``channel`` column."""

    name: str
    pacing: Pacing

    def post(self, contents: Sequence[AlertContent], dedup_keys: Sequence[str]) -> PostResult: ...

    def delivered(self, dedup_keys: Sequence[str], since: datetime) -> set[str]:
        """Which of ``dedup_keys`` the channel already shows (empty when it cannot tell)."""
        ...


def _retry_handlers(retry_interval: float) -> list[RetryHandler]:
    """Retry once on a refused or reset connection, and after a 429 as long as Retry-After says;
    other failures leave the alert pending for the next run instead of holding this one."""
    return [
        ConnectionErrorRetryHandler(
            max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(retry_interval)
        ),
        RateLimitErrorRetryHandler(max_retry_count=1),
    ]


_MESSAGE_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_payload",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
    }
)
"""Errors about one message: the next alert may still go through."""
_HINTS = {
    "invalid_auth": "Slack rejected the token",
    "not_authed": "no token was sent",
    "token_revoked": "the token was revoked",
    "channel_not_found": "the bot cannot see this channel (use its ID and invite the bot)",
    "not_in_channel": "invite the bot to the channel",
    "invalid_token": "Slack rejected the webhook URL",
    "no_service": "the webhook was removed",
    "missing_scope": "the bot token lacks a scope (chat:write, channels:history)",
}


def _failure(what: str, code: str, status: int, secrets: Sequence[str]) -> PostResult:
    """An HTTP answer that is not a success; ``code`` is Slack's error name where it sent one."""
    if status == 429:
        code = "rate limited (still, after waiting as long as Retry-After said)"
    elif status >= 500:
        code = "server error: the message may have been posted"
    hint = _HINTS.get(code)
    text = f"{what}: HTTP {status}: {code}" + (f" ({hint})" if hint else "")
    return PostResult(
        ok=False,
        error=redact(text, secrets)[:1000],
        channel_down=code not in _MESSAGE_ERRORS,
        ambiguous=status >= 500,
    )


def _exception_failure(what: str, error: Exception, secrets: Sequence[str]) -> PostResult:
    """A post that got no HTTP answer. A channel never raises: a client's exception may carry the
    URL (the secret, for a webhook), so it becomes a redacted result instead."""
    if isinstance(error, TimeoutError | ConnectionResetError):
        text = (
            f"{what}: no answer ({type(error).__name__}); the message may have been posted, "
            "so the next attempt checks first where it can"
        )
        return PostResult(False, redact(text, secrets), channel_down=True, ambiguous=True)
    if isinstance(error, OSError):  # URLError included: refused, unknown host, TLS
        reason = error.reason if isinstance(error, URLError) else error
        text = f"{what}: could not connect ({type(reason).__name__}: {reason})"
    else:
        text = f"{what}: {type(error).__name__}: {error}"
    return PostResult(False, redact(text, secrets)[:1000], channel_down=True)


class SlackApiChannel:
    """chat.postMessage with a bot token. Each message carries metadata naming its alerts, so
    after a failed attempt the next one reads conversations.history and skips what Slack shows."""

    def __init__(
        self,
        *,
        name: str,
        channel: str,
        token: SecretStr,
        base_url: str = WebClient.BASE_URL,
        timeout: int = 10,
        pacing: Pacing = Pacing(),
        retry_interval: float = 0.5,
    ) -> None:
        self.name, self.channel, self.pacing = name, channel, pacing
        self._secrets = (token.get_secret_value(),)
        self._client = WebClient(
            token=token.get_secret_value(),
            base_url=base_url,
            timeout=timeout,
            logger=_client_logger(name, self._secrets),
            retry_handlers=_retry_handlers(retry_interval),
        )

    def __repr__(self) -> str:
        return f"SlackApiChannel(name={self.name!r}, channel={self.channel!r})"

    def post(self, contents: Sequence[AlertContent], dedup_keys: Sequence[str]) -> PostResult:
        message = slack_message(contents)
        fingerprints = " ".join(alert_fingerprint(key) for key in dedup_keys)
        try:
            self._client.chat_postMessage(
                channel=self.channel,
                text=message.text,
                blocks=list(message.blocks),
                metadata={"event_type": _METADATA_TYPE, "event_payload": {"alerts": fingerprints}},
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as error:
            code = str(error.response.get("error") or "error")
            return _failure(
                "Slack chat.postMessage", code, error.response.status_code, self._secrets
            )
        except Exception as error:
            return _exception_failure("Slack chat.postMessage", error, self._secrets)
        return SENT

    def delivered(self, dedup_keys: Sequence[str], since: datetime) -> set[str]:
        wanted = {alert_fingerprint(key): key for key in dedup_keys}
        found: set[str] = set()
        cursor: str | None = None
        try:
            for _page in range(5):
                page = self._client.conversations_history(
                    channel=self.channel,
                    oldest=f"{since.timestamp():.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
                found |= _fingerprints(page.get("messages") or []) & wanted.keys()
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if cursor is None:
                    break
        except Exception as error:
            text = redact(f"{type(error).__name__}: {error}", self._secrets).splitlines()[0]
            log.warning(
                "%s: could not read the channel history, posting anyway: %s", self.name, text
            )
        return {wanted[fingerprint] for fingerprint in found}


def _fingerprints(messages: Iterable[Mapping[str, Any]]) -> set[str]:
    found: set[str] = set()
    for message in messages:
        metadata = message.get("metadata") or {}
        if metadata.get("event_type") == _METADATA_TYPE:
            found.update(str((metadata.get("event_payload") or {}).get("alerts", "")).split())
    return found


class WebhookChannel:
    """A Slack incoming webhook (Block Kit) or a plain JSON webhook (``json_body=True``).

    A webhook cannot be read back: Slack offers no way to tell whether a post that timed out was
    shown, so a retry after a timeout may show the message twice. Use the ``slack_api`` channel
    where a duplicate matters.
    """

    def __init__(
        self,
        *,
        name: str,
        url: SecretStr,
        json_body: bool = False,
        timeout: int = 10,
        pacing: Pacing = Pacing(),
        retry_interval: float = 0.5,
    ) -> None:
        self.name, self.json_body, self.pacing = name, json_body, pacing
        self._secrets = (url.get_secret_value(),)
        self._client = WebhookClient(
            url=url.get_secret_value(),
            timeout=timeout,
            logger=_client_logger(name, self._secrets),
            retry_handlers=_retry_handlers(retry_interval),
        )

    def __repr__(self) -> str:
        return f"WebhookChannel(name={self.name!r}, json_body={self.json_body})"

    def post(self, contents: Sequence[AlertContent], dedup_keys: Sequence[str]) -> PostResult:
        what = "JSON webhook" if self.json_body else "Slack webhook"
        if self.json_body:
            body = json_payload(contents)
        else:
            message = slack_message(contents)
            body = {"text": message.text, "blocks": list(message.blocks), "unfurl_links": False}
        try:
            response = self._client.send_dict(body)
        except Exception as error:
            return _exception_failure(what, error, self._secrets)
        if 200 <= response.status_code < 300:
            return SENT
        code = (response.body or "error").strip().splitlines()[0][:100]
        result = _failure(what, code, response.status_code, self._secrets)
        payload_error = response.status_code in (400, 413, 422)
        return PostResult(False, result.error, not payload_error, result.ambiguous)

    def delivered(self, dedup_keys: Sequence[str], since: datetime) -> set[str]:
        return set()


@dataclass(frozen=True)
class ConfiguredChannels:
    channels: tuple[AlertChannel, ...]
    problems: tuple[str, ...]
    """One line per channel that cannot be used (a missing secret), naming the fix."""


def build_channels(
    spec: AlertsSpec,
    *,
    slack_token: SecretStr | None,
    slack_webhook_url: SecretStr | None,
    webhook_urls: Mapping[str, SecretStr] | None = None,
    slack_base_url: str = WebClient.BASE_URL,
    timeout: int = 10,
    settings: DriftwiseSettings | None = None,
) -> ConfiguredChannels:
    """The spec's channels with their secrets (from settings, a Prefect Secret block, ...).
    PagerDuty and e-mail read their keys and servers from ``settings``."""
    channels: list[AlertChannel] = []
    problems: list[str] = []
    for item in spec.channels:
        pacing = Pacing(item.min_interval_seconds, item.digest_after)
        if isinstance(item, EXTRA_CHANNEL_SPECS):
            env = getattr(item, "routing_key_env", None)
            made = extra_channel(
                item, settings or DriftwiseSettings(), timeout=timeout,
                environ_key=(webhook_urls or {}).get(env) if env else None,
            )  # fmt: skip
            if isinstance(made, str):
                problems.append(made)
            else:
                channels.append(made)
            continue
        if isinstance(item, SlackApiChannelSpec):
            secret, missing = slack_token, "no Slack bot token (set DRIFTWISE_SLACK_TOKEN)"
        elif isinstance(item, SlackWebhookChannelSpec):
            secret, missing = slack_webhook_url, "no webhook URL (set DRIFTWISE_SLACK_WEBHOOK_URL)"
        else:
            secret = (webhook_urls or {}).get(item.url_env)
            missing = f"the environment variable {item.url_env} is not set"
        if secret is None:
            problems.append(f"{item.key}: {missing}")
        elif isinstance(item, SlackApiChannelSpec):
            channels.append(
                SlackApiChannel(
                    name=item.key, channel=item.channel, token=secret,
                    base_url=slack_base_url, timeout=timeout, pacing=pacing,
                )
            )  # fmt: skip
        elif not re.match(r"https?://", secret.get_secret_value(), re.IGNORECASE):
            problems.append(f"{item.key}: the webhook URL does not start with https://")
        else:
            json_body = item.type == "webhook"
            channels.append(
                WebhookChannel(
                    name=item.key, url=secret, json_body=json_body, timeout=timeout, pacing=pacing
                )
            )
    return ConfiguredChannels(tuple(channels), tuple(problems))


def channels_from_settings(spec: AlertsSpec, settings: DriftwiseSettings) -> ConfiguredChannels:
    """``build_channels`` with the secrets from DRIFTWISE_* settings and the named variables."""
    urls = {}
    for item in spec.channels:
        env = getattr(item, "url_env", None) or getattr(item, "routing_key_env", None)
        value = environment_secret(env) if env else None
        if env and value:
            urls[env] = SecretStr(value)
    return build_channels(
        spec,
        slack_token=settings.slack_token,
        slack_webhook_url=settings.slack_webhook_url,
        webhook_urls=urls,
        slack_base_url=settings.slack_base_url,
        settings=settings,
    )


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
