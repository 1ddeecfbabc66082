"""From the spec's ``alerts.channels`` to channels that post: one builder per channel kind.

A builder returns the channel, or one line naming what is missing (a secret, a server), so a
run reports every unusable channel at once and still delivers through the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from slack_sdk import WebClient

from monitoring_lib.alerts.channels import pagerduty, slack_api, smtp, webhook
from monitoring_lib.alerts.channels.base import AlertChannel, ChannelContext
from monitoring_lib.settings import DriftwiseSettings, environment_secret
from monitoring_lib.spec.alerts import AlertsSpec, ChannelSpec

BUILDERS: Mapping[str, Callable[[Any, ChannelContext], AlertChannel | str]] = {
    "slack_api": slack_api.build,
    "slack_webhook": webhook.build_slack,
    "webhook": webhook.build_json,
    "pagerduty": pagerduty.build,
    "email": smtp.build,
}
"""Channel kind (the spec's ``type``) -> builder."""


@dataclass(frozen=True)
class ConfiguredChannels:
    channels: tuple[AlertChannel, ...]
    problems: tuple[str, ...]
    """One line per channel that cannot be used (a missing secret), naming the fix."""


def build_channel(item: ChannelSpec, context: ChannelContext) -> AlertChannel | str:
    """One spec entry's channel, or the line saying why it cannot be built."""
    return BUILDERS[item.type](item, context)


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
    context = ChannelContext(
        slack_token=slack_token, slack_webhook_url=slack_webhook_url,
        environ=dict(webhook_urls or {}), slack_base_url=slack_base_url, timeout=timeout,
        settings=settings or DriftwiseSettings(),
    )  # fmt: skip
    built = [build_channel(item, context) for item in spec.channels]
    return ConfiguredChannels(
        tuple(b for b in built if not isinstance(b, str)),
        tuple(b for b in built if isinstance(b, str)),
    )


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
