"""Alerts: where they go (the spec), what they say (Block Kit), and when they are raised.

Pure: no I/O and no clock. Time is the evaluated window's start, so a replay plans the alerts the
live runs planned, and the outbox's dedup key (model, rule, window) drops what was already queued.
Delivery lives in ``monitoring_lib.alert_delivery``.

Per (rule, channel), the planner is a small state machine over the outbox's last row::

    quiet --breach--> firing (one alert)
    firing --still breaching--> silence, until the channel's cooldown has passed (a reminder)
                                or the severity rises (an escalation)
    firing --cleared--> quiet (one 'resolved' message)

A rule without usable data this window is neither breaching nor cleared: nothing is sent.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from monitoring_lib.spec.alerts import (
    AlertsSpec,
)
from monitoring_lib.spec.base import Severity, severity_rank
from monitoring_lib.store.repository import AlertDraft

AlertKind = Literal["firing", "resolved", "test"]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class Breach:
    """One firing rule's value against its threshold."""

    rule: str
    metric: str
    value: float | None
    threshold: float | None
    severity: Severity = Severity.WARNING
    column: str = ""
    segment: str = ""
    direction: Literal["above", "below"] = "above"

    def __post_init__(self) -> None:
        severity_rank(self.severity)
        object.__setattr__(self, "value", _finite(self.value))
        object.__setattr__(self, "threshold", _finite(self.threshold))


@dataclass(frozen=True)
class DriftedColumn:
    column: str
    score: float | None
    method: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "score", _finite(self.score))


@dataclass(frozen=True)
class AlertContext:
    """What a window's alerts share: the model, the window, the decision and the links."""

    model: str
    window_start: datetime
    window_label: str
    decision: str = "alert"
    top_drifted: tuple[DriftedColumn, ...] = ()
    prefect_run_url: str | None = None
    report_url: str | None = None


@dataclass(frozen=True)
class AlertContent:
    """Everything a message says; stored as JSON in the outbox and rendered at delivery."""

    model: str
    window_label: str
    severity: Severity
    kind: AlertKind
    rule: str = ""
    breaches: tuple[Breach, ...] = ()
    top_drifted: tuple[DriftedColumn, ...] = ()
    decision: str = "alert"
    note: str = ""
    """Why this message now: new, a reminder after the cooldown, an escalation."""
    prefect_run_url: str | None = None
    report_url: str | None = None
    runbook_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AlertContent:
        values = dict(data)
        values["breaches"] = tuple(Breach(**b) for b in values.get("breaches", ()))
        values["top_drifted"] = tuple(DriftedColumn(**d) for d in values.get("top_drifted", ()))
        return cls(**values)


@dataclass(frozen=True)
class AlertState:
    """The outbox's last firing or resolved row of one (rule, channel) before this window."""

    kind: Literal["firing", "resolved"]
    severity: Severity
    window_start: datetime

    @classmethod
    def of(cls, kind: str, severity: str, window_start: datetime) -> AlertState:
        """From stored strings, checked: a bad row fails here, not deep in the planner."""
        if kind not in ("firing", "resolved"):
            raise ValueError(f"alert state kind must be firing or resolved, got {kind!r}")
        severity_rank(severity)
        return cls(kind, severity, window_start)  # type: ignore[arg-type]


StateKey = tuple[str, str]
"""(rule, channel name)."""


def dedup_key(model: str, rule: str, window_start: datetime, kind: str = "firing") -> str:
    """model|rule|window start, with '|resolved' or '|test' for those kinds; reruns reuse it."""
    base = f"{model}|{rule}|{window_start.isoformat()}"
    return base if kind == "firing" else f"{base}|{kind}"


def _firing_note(
    breach: Breach, previous: AlertState | None, cooldown: timedelta, at: datetime
) -> str | None:
    """Why a still-firing rule speaks again now, or None to stay silent."""
    if previous is None or previous.kind == "resolved":
        return "new"
    if severity_rank(breach.severity) > severity_rank(previous.severity):
        return f"severity rose from {previous.severity} to {breach.severity}"
    if at - previous.window_start >= cooldown:
        since = previous.window_start.strftime("%Y-%m-%d %H:%M UTC")
        return f"still firing (last alert for the window starting {since})"
    return None


def plan_alerts(
    context: AlertContext,
    firing: Sequence[Breach],
    cleared: Collection[str],
    previous: Mapping[StateKey, AlertState],
    spec: AlertsSpec,
) -> list[AlertDraft]:
    """The outbox rows for one window: ``firing`` breaches, ``cleared`` rule names, given the
    last row per (rule, channel) before this window. Rules in neither (no data) stay as they are."""
    rules = {b.rule for b in firing}
    if len(rules) != len(firing) or rules & set(cleared):
        raise ValueError("one breach per rule, and a firing rule cannot also be cleared")
    drafts = []
    for channel in spec.channels:
        for breach in firing:
            if severity_rank(breach.severity) < severity_rank(channel.min_severity):
                continue
            state = previous.get((breach.rule, channel.key))
            note = _firing_note(breach, state, channel.cooldown, context.window_start)
            if note is not None:
                drafts.append(_draft(context, spec, channel.key, breach.rule, breach, note))
        for rule in sorted(cleared):
            state = previous.get((rule, channel.key))
            if state is not None and state.kind == "firing":
                drafts.append(_draft(context, spec, channel.key, rule, None, "", state.severity))
    return drafts


def _draft(
    context: AlertContext,
    spec: AlertsSpec,
    channel: str,
    rule: str,
    breach: Breach | None,
    note: str,
    resolved_severity: Severity = Severity.INFO,
) -> AlertDraft:
    kind: AlertKind = "firing" if breach else "resolved"
    severity = breach.severity if breach else resolved_severity
    content = AlertContent(
        model=context.model,
        window_label=context.window_label,
        severity=severity,
        kind=kind,
        rule=rule,
        breaches=(breach,) if breach else (),
        top_drifted=context.top_drifted if breach else (),
        decision=context.decision if breach else "none",
        note=note,
        prefect_run_url=context.prefect_run_url,
        report_url=context.report_url,
        runbook_url=spec.runbook_url,
    )
    return AlertDraft(
        rule=rule,
        severity=severity,
        kind=kind,
        channel=channel,
        dedup_key=dedup_key(context.model, rule, context.window_start, kind),
        content=content.to_json(),
    )


# ---- message content ------------------------------------------------------------------------
