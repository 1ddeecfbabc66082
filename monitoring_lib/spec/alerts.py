"""The ``alerts:`` section of a monitor spec: where alerts go, how each channel routes and paces.

Secrets (tokens, webhook URLs, routing keys, SMTP passwords) never live in a spec: a channel
names the environment variable or setting that holds them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from monitoring_lib.durations import Duration
from monitoring_lib.spec.base import Severity, Strict


class ChannelSpecBase(Strict):
    """Routing and pacing of one alert channel."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    """The outbox's name for this channel; default: its type and target, e.g. 'slack:C0123'."""
    min_severity: Severity = Severity.WARNING
    """The least severe alert this channel receives (info < warning < high < critical)."""
    cooldown: Duration = timedelta(days=1)
    """While a rule keeps firing, least time between two alerts about it ('1d', '12h')."""
    min_interval_seconds: float = Field(default=1.0, ge=0, le=60)
    """Least time between two posts to the channel (Slack allows about one a second)."""
    digest_after: int = Field(default=5, ge=1, le=1000)
    """More pending alerts than this, in one run, are folded into one digest message."""

    @property
    def key(self) -> str:
        """The name stored in the outbox's ``channel`` column."""
        return self.name or self._default_name()

    def _default_name(self) -> str:
        raise NotImplementedError


_EMAIL = r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$"


class PagerDutyChannelSpec(ChannelSpecBase):
    """A PagerDuty service, through its Events API v2 integration key."""

    type: Literal["pagerduty"]
    min_severity: Severity = Severity.HIGH
    """PagerDuty pages people: only high or critical alerts go there."""
    routing_key_env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100
    )
    """Environment variable holding this service's routing key; default
    DRIFTWISE_PAGERDUTY_ROUTING_KEY (a secret: it never lives in the spec)."""

    @field_validator("min_severity")
    @classmethod
    def _pages_only(cls, value: Severity) -> Severity:
        if value < Severity.HIGH:
            raise ValueError(f"PagerDuty pages people: use 'high' or 'critical', not '{value}'")
        return value

    def _default_name(self) -> str:
        return f"pagerduty:{self.routing_key_env}" if self.routing_key_env else "pagerduty"


class EmailChannelSpec(ChannelSpecBase):
    """E-mail over the SMTP server in the settings (DRIFTWISE_SMTP_*)."""

    type: Literal["email"]
    to: list[str] = Field(min_length=1, max_length=50)
    """Recipient addresses."""
    subject_prefix: str = Field(default="[driftwise]", max_length=50)

    @field_validator("to")
    @classmethod
    def _addresses(cls, to: list[str]) -> list[str]:
        bad = [address for address in to if not re.match(_EMAIL, address)]
        if bad:
            raise ValueError(f"not an e-mail address: {', '.join(map(repr, bad))}")
        return to

    def _default_name(self) -> str:
        more = f"+{len(self.to) - 1}" if len(self.to) > 1 else ""
        return f"email:{self.to[0]}{more}"[:200]


class SlackApiChannelSpec(ChannelSpecBase):
    """A Slack channel, posted to with the bot token (chat.postMessage)."""

    type: Literal["slack_api"]
    channel: str = Field(min_length=1, max_length=150)
    """Channel ID (e.g. C0123456789); the bot must be a member. An ID, unlike a '#name', lets a
    retry read the channel's history to avoid posting twice."""

    def _default_name(self) -> str:
        return f"slack:{self.channel}"


class SlackWebhookChannelSpec(ChannelSpecBase):
    """The Slack incoming webhook whose URL is in the settings (DRIFTWISE_SLACK_WEBHOOK_URL)."""

    type: Literal["slack_webhook"]

    def _default_name(self) -> str:
        return "slack-webhook"


class WebhookChannelSpec(ChannelSpecBase):
    """Any HTTP endpoint that takes a JSON POST (PagerDuty bridge, Teams relay, your own)."""

    type: Literal["webhook"]
    url_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)
    """Environment variable holding the URL (a secret: it never lives in the spec)."""

    def _default_name(self) -> str:
        return f"webhook:{self.url_env}"


ChannelSpec = Annotated[
    SlackApiChannelSpec
    | SlackWebhookChannelSpec
    | WebhookChannelSpec
    | PagerDutyChannelSpec
    | EmailChannelSpec,
    Field(discriminator="type"),
]


class AlertsSpec(Strict):
    """The ``alerts:`` section of a monitor spec."""

    channels: list[ChannelSpec] = []
    """Where alerts go; each channel routes by severity and keeps its own cooldown."""
    runbook_url: str | None = Field(default=None, max_length=2000)
    """Linked from every alert: what to do when this model alerts."""

    @model_validator(mode="after")
    def _unique_names(self) -> AlertsSpec:
        names = [channel.key for channel in self.channels]
        for name in names:
            if names.count(name) > 1:
                raise PydanticCustomError(
                    "alert_channel",
                    "two channels are named {name}; give one of them a 'name'",
                    {"name": repr(name)},
                )
        return self
