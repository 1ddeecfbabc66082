"""Slack through the Web API (chat.postMessage with the bot token).

Each message carries the alerts' fingerprints as metadata, so a retry after an unknown outcome
can read the channel's recent history and skip what Slack already shows."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.error import URLError

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    FixedValueRetryIntervalCalculator,
    HttpRequest,
    HttpResponse,
    RetryHandler,
    RetryState,
)

from monitoring_lib.alerts.channels.base import (
    _METADATA_TYPE,
    DEFAULT_PACING,
    SENT,
    AlertChannel,
    ChannelContext,
    Pacing,
    PostResult,
    alert_fingerprint,
    client_logger,
    exception_failure,
    http_failure,
    pacing_of,
)
from monitoring_lib.alerts.content import slack_message
from monitoring_lib.alerts.planning import AlertContent
from monitoring_lib.observability.redaction import redact
from monitoring_lib.spec.alerts import SlackApiChannelSpec

log = logging.getLogger(__name__)


DEFAULT_MAX_RETRY_AFTER = 30.0
"""Longest Retry-After (seconds) a post waits out; a longer one leaves it for the next run."""


class RefusedConnectionRetryHandler(RetryHandler):
    """Retry only when the connection was refused or the host unknown: the request never left,
    so a retry cannot show a message twice. A reset or a dropped answer may follow a post Slack
    accepted: that is left to the outbox, which reads the channel history before trying again."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        reason = error.reason if isinstance(error, URLError) else error
        return response is None and isinstance(reason, ConnectionRefusedError | socket.gaierror)


class CappedRateLimitRetryHandler(RetryHandler):
    """After a 429, wait as long as Retry-After says, but never longer than ``max_wait``: a longer
    wait is not taken (slack-sdk's own handler sleeps whatever the header says)."""

    def __init__(self, max_wait: float, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(max_retry_count=1)
        self.max_wait, self._sleep = max_wait, sleep

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return (
            response is not None
            and response.status_code == 429
            and (retry_after(response) <= self.max_wait)
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = retry_after(response) if response is not None else 1.0
        state.next_attempt_requested = True
        self._sleep(min(wait, self.max_wait) + 0.05)  # a hair over: "at least" Retry-After
        state.increment_current_attempt()


def retry_after(response: HttpResponse) -> float:
    """Seconds the server asked to wait (1 when it did not say, or said nonsense)."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            try:
                return max(0.0, float(values[0]))
            except ValueError:
                return 1.0
    return 1.0


def retry_handlers(
    retry_interval: float,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    sleep: Callable[[float], None] = time.sleep,
) -> list[RetryHandler]:
    """Retry once on a refused connection, and once after a 429 whose Retry-After is at most
    ``max_retry_after`` seconds; other failures leave the alert pending for the next run."""
    return [
        RefusedConnectionRetryHandler(
            max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(retry_interval)
        ),
        CappedRateLimitRetryHandler(max_retry_after, sleep),
    ]


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
        pacing: Pacing = DEFAULT_PACING,
        retry_interval: float = 0.5,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name, self.channel, self.pacing = name, channel, pacing
        self._secrets = (token.get_secret_value(),)
        self._client = WebClient(
            token=token.get_secret_value(),
            base_url=base_url,
            timeout=timeout,
            logger=client_logger(name, self._secrets),
            retry_handlers=retry_handlers(retry_interval, max_retry_after, sleep),
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
            return http_failure(
                "Slack chat.postMessage", code, error.response.status_code, self._secrets
            )
        except Exception as error:
            return exception_failure("Slack chat.postMessage", error, self._secrets)
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


def build(item: SlackApiChannelSpec, context: ChannelContext) -> AlertChannel | str:
    """The channel, or what is missing: the bot token."""
    if context.slack_token is None:
        return f"{item.key}: no Slack bot token (set DRIFTWISE_SLACK_TOKEN)"
    return SlackApiChannel(
        name=item.key, channel=item.channel, token=context.slack_token,
        base_url=context.slack_base_url, timeout=context.timeout, pacing=pacing_of(item),
        max_retry_after=context.settings.alert_max_retry_after_seconds,
    )  # fmt: skip
