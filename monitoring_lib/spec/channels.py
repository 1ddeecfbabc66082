"""What every alert channel's spec has: a name, severity routing, cooldown and pacing.

Its own module so that the Slack channels (alerts.py) and the PagerDuty and e-mail channels
(channels_extra.py) share one base without importing each other.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from monitoring_lib.durations import Duration

Severity = Literal["info", "warning", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "high", "critical")


def severity_rank(severity: str) -> int:
    """Position in info < warning < high < critical (policy.Severity values are the same)."""
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    return SEVERITIES.index(severity)


class ChannelSpecBase(BaseModel):
    """Routing and pacing of one alert channel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    """The outbox's name for this channel; default: its type and target, e.g. 'slack:C0123'."""
    min_severity: Severity = "warning"
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
