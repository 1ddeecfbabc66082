"""What every alert channel is: a ``post`` that reports its outcome, a history check for retries
after an unknown outcome, and pacing. Failures carry a redacted, actionable error."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.error import URLError

from pydantic import SecretStr
from slack_sdk import WebClient

from monitoring_lib.alerts.planning import AlertContent
from monitoring_lib.observability.redaction import RedactingFilter, redact
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec.alerts import ChannelSpecBase


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


DEFAULT_PACING = Pacing()


def pacing_of(item: ChannelSpecBase) -> Pacing:
    return Pacing(item.min_interval_seconds, item.digest_after)


@dataclass(frozen=True)
class ChannelContext:
    """What building a channel may need besides its spec entry: secrets and servers."""

    slack_token: SecretStr | None = None
    slack_webhook_url: SecretStr | None = None
    environ: Mapping[str, SecretStr] = field(default_factory=dict)
    """Secrets from the environment variables the spec names (url_env, routing_key_env)."""
    slack_base_url: str = WebClient.BASE_URL
    timeout: int = 10
    settings: DriftwiseSettings = field(default_factory=DriftwiseSettings)


class AlertChannel(Protocol):
    """Somewhere alerts are posted; ``name`` matches the outbox's ``channel`` column."""

    name: str
    pacing: Pacing

    def post(self, contents: Sequence[AlertContent], dedup_keys: Sequence[str]) -> PostResult: ...

    def delivered(self, dedup_keys: Sequence[str], since: datetime) -> set[str]:
        """Which of ``dedup_keys`` the channel already shows (empty when it cannot tell)."""
        ...


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


def http_failure(what: str, code: str, status: int, secrets: Sequence[str]) -> PostResult:
    """An HTTP answer that is not a success; ``code`` is Slack's error name where it sent one."""
    if status == 429:
        code = (
            "rate limited (Retry-After was longer than DRIFTWISE_ALERT_MAX_RETRY_AFTER_SECONDS, "
            "or the limit held after waiting it out): the next run retries"
        )
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


def exception_failure(what: str, error: Exception, secrets: Sequence[str]) -> PostResult:
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


_CHANNELS_LOG = logging.getLogger("monitoring_lib.alerts.channels")


def client_logger(name: str, secrets: Sequence[str]) -> logging.Logger:
    """A logger private to one client: slack-sdk logs URLs (a webhook URL is the secret) at debug
    level. Unregistered, so its filter dies with the channel; it still propagates to ours."""
    logger = logging.Logger(f"{_CHANNELS_LOG.name}.{name}")
    logger.parent = _CHANNELS_LOG
    logger.addFilter(RedactingFilter(secrets))
    return logger
