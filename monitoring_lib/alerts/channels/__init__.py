"""Alert channels, one module per kind (Slack API, webhooks, PagerDuty, SMTP, in memory), built
from the spec by one factory table."""

from monitoring_lib.alerts.channels.base import AlertChannel, Pacing, PostResult
from monitoring_lib.alerts.channels.factory import (
    ConfiguredChannels,
    build_channel,
    build_channels,
    channels_from_settings,
)
from monitoring_lib.alerts.channels.memory import MemoryChannel

__all__ = [
    "AlertChannel", "ConfiguredChannels", "MemoryChannel", "Pacing", "PostResult", "build_channel",
    "build_channels", "channels_from_settings",
]  # fmt: skip
