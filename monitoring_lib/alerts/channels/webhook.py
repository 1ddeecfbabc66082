"""Incoming webhooks: Slack's (Block Kit body) and any endpoint that takes a JSON POST."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from pydantic import SecretStr
from slack_sdk.webhook import WebhookClient

from monitoring_lib.alerts.channels.base import (
    DEFAULT_PACING,
    SENT,
    AlertChannel,
    ChannelContext,
    Pacing,
    PostResult,
    client_logger,
    exception_failure,
    http_failure,
    pacing_of,
)
from monitoring_lib.alerts.channels.slack_api import DEFAULT_MAX_RETRY_AFTER, retry_handlers
from monitoring_lib.alerts.content import json_payload, slack_message
from monitoring_lib.alerts.planning import AlertContent
from monitoring_lib.spec.alerts import ChannelSpecBase, SlackWebhookChannelSpec, WebhookChannelSpec


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
        pacing: Pacing = DEFAULT_PACING,
        retry_interval: float = 0.5,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    ) -> None:
        self.name, self.json_body, self.pacing = name, json_body, pacing
        self._secrets = (url.get_secret_value(),)
        self._client = WebhookClient(
            url=url.get_secret_value(),
            timeout=timeout,
            logger=client_logger(name, self._secrets),
            retry_handlers=retry_handlers(retry_interval, max_retry_after),
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
            return exception_failure(what, error, self._secrets)
        if 200 <= response.status_code < 300:
            return SENT
        code = (response.body or "error").strip().splitlines()[0][:100]
        result = http_failure(what, code, response.status_code, self._secrets)
        payload_error = response.status_code in (400, 413, 422)
        return PostResult(False, result.error, not payload_error, result.ambiguous)

    def delivered(self, dedup_keys: Sequence[str], since: datetime) -> set[str]:
        return set()


def _build(item: ChannelSpecBase, url: SecretStr | None, missing: str, context: ChannelContext,
           *, json_body: bool) -> AlertChannel | str:  # fmt: skip
    if url is None:
        return f"{item.key}: {missing}"
    if not re.match(r"https?://", url.get_secret_value(), re.IGNORECASE):
        return f"{item.key}: the webhook URL does not start with https://"
    return WebhookChannel(
        name=item.key, url=url, json_body=json_body, timeout=context.timeout,
        pacing=pacing_of(item), max_retry_after=context.settings.alert_max_retry_after_seconds,
    )  # fmt: skip


def build_slack(item: SlackWebhookChannelSpec, context: ChannelContext) -> AlertChannel | str:
    """Slack's incoming webhook, whose URL is the setting DRIFTWISE_SLACK_WEBHOOK_URL."""
    missing = "no webhook URL (set DRIFTWISE_SLACK_WEBHOOK_URL)"
    return _build(item, context.slack_webhook_url, missing, context, json_body=False)


def build_json(item: WebhookChannelSpec, context: ChannelContext) -> AlertChannel | str:
    """Any JSON endpoint, whose URL is in the environment variable ``url_env`` names."""
    missing = f"the environment variable {item.url_env} is not set"
    return _build(item, context.environ.get(item.url_env), missing, context, json_body=True)
