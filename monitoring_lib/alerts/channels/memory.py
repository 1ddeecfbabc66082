"""An alert channel that keeps what it is sent, for tests and dry runs of a policy.

It satisfies the same protocol as the real channels, so the outbox, pacing and digests run
unchanged against it; ``fail_with`` makes the next posts fail the way a real channel reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from monitoring_lib.alerts.channels.base import SENT, Pacing, PostResult
from monitoring_lib.alerts.planning import AlertContent


@dataclass
class MemoryChannel:
    name: str
    pacing: Pacing = field(default_factory=lambda: Pacing(min_interval=0.0))
    posts: list[tuple[tuple[AlertContent, ...], tuple[str, ...]]] = field(default_factory=list)
    """Every successful post: its contents and dedup keys, in order."""
    fail_with: PostResult | None = None
    """When set, every post fails with this result and nothing is kept."""

    def post(self, contents: Sequence[AlertContent], dedup_keys: Sequence[str]) -> PostResult:
        if self.fail_with is not None:
            return self.fail_with
        self.posts.append((tuple(contents), tuple(dedup_keys)))
        return SENT

    def delivered(self, dedup_keys: Sequence[str], since: datetime) -> set[str]:
        """A memory channel can be read back, like Slack's history."""
        shown = {key for _, keys in self.posts for key in keys}
        return shown & set(dedup_keys)

    @property
    def sent_keys(self) -> list[str]:
        return [key for _, keys in self.posts for key in keys]
