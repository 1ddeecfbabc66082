"""The spec's shared vocabulary: one strict base model, the task, decisions and severities.

Every section of a monitor spec derives from ``Strict``, so an unknown key is an error and a
loaded spec cannot change under a running flow.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors; values are frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Ranked(StrEnum):
    """A StrEnum ordered by declaration, not alphabetically as plain strings would be."""

    @property
    def rank(self) -> int:
        return list(type(self)).index(self)

    def __lt__(self, other: str) -> bool:
        return self.rank < type(self)(other).rank

    def __le__(self, other: str) -> bool:
        return self.rank <= type(self)(other).rank

    def __gt__(self, other: str) -> bool:
        return self.rank > type(self)(other).rank

    def __ge__(self, other: str) -> bool:
        return self.rank >= type(self)(other).rank


class Decision(_Ranked):
    """What the monitor does about a window, weakest first; a stronger one includes alerting."""

    NONE = "none"
    ALERT = "alert"
    RETRAIN = "retrain"
    ROLLBACK = "rollback"


class Severity(_Ranked):
    """How urgent a finding is, least first; alert channels route on it."""

    INFO = "info"
    WARNING = "warning"
    HIGH = "high"
    CRITICAL = "critical"


class Task(StrEnum):
    """What the model predicts; it decides which quality metrics exist."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


def severity_rank(severity: str) -> int:
    """Position in info < warning < high < critical, refusing anything else by name."""
    try:
        return Severity(severity).rank
    except ValueError:
        known = ", ".join(Severity)
        raise ValueError(f"unknown severity {severity!r}; expected one of {known}") from None
