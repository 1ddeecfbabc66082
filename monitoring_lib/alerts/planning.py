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
from dataclasses import asdict, dataclass, field
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

_ICONS = {"info": ":information_source:", "warning": ":warning:", "high": ":rotating_light:"}
_ICONS["critical"] = ":red_circle:"
MAX_LISTED = 10
"""Breaches, drifted columns or digest lines shown before 'and N more'."""


def format_value(value: float | None) -> str:
    """A number for people: 4 significant digits, thousands separated, 'n/a' when missing."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.1f}"
    return f"{value:.4g}"


def _escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as markup; user strings must not inject links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_breach(breach: Breach) -> str:
    """'drift.score (income): 0.31 > 0.2' — the value against the threshold."""
    where = ", ".join(part for part in (breach.column, breach.segment) if part)
    subject = f"{breach.metric} ({where})" if where else breach.metric
    sign = ">" if breach.direction == "above" else "<"
    return f"{subject}: {format_value(breach.value)} {sign} {format_value(breach.threshold)}"


def headline(content: AlertContent) -> str:
    """One line: the plain-text fallback, the notification and a digest line."""
    if content.kind == "test":
        return f"driftwise test message for {content.model}: this channel receives its alerts"
    if content.kind == "resolved":
        return f"RESOLVED {content.model} {content.window_label}: {content.rule} is back to normal"
    what = "; ".join(describe_breach(b) for b in content.breaches) or content.rule
    return (
        f"[{content.severity.upper()}] {content.model} {content.window_label}: {what}; "
        f"decision: {content.decision}"
    )


def _bullets(lines: Sequence[str]) -> str:
    shown = [f"• {_escape(line)}" for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(f"… and {len(lines) - MAX_LISTED} more")
    return _clip("\n".join(shown), 2900)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, 3000)}}


def _links(content: AlertContent) -> dict[str, Any] | None:
    named = [
        ("Prefect run", content.prefect_run_url),
        ("HTML report", content.report_url),
        ("Runbook", content.runbook_url),
    ]
    links = [f"<{_escape(url)}|{label}>" for label, url in named if url]
    if not links:
        return None
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]}


def _title(content: AlertContent) -> str:
    if content.kind == "test":
        return f":test_tube: driftwise test: {content.model}"
    if content.kind == "resolved":
        return f":white_check_mark: Resolved: {content.model} {content.rule}"
    return f"{_ICONS[content.severity]} {content.severity.upper()}: {content.model} {content.rule}"


def alert_blocks(content: AlertContent) -> list[dict[str, Any]]:
    """The Block Kit blocks of one alert."""
    header = {"type": "plain_text", "text": _clip(_title(content), 150), "emoji": True}
    fields = [
        f"*Model*\n{_escape(content.model)}",
        f"*Window*\n{_escape(content.window_label)}",
        f"*Severity*\n{content.severity}",
        f"*Decision*\n{_escape(content.decision)}",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": header},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if content.kind == "test":
        blocks.append(_section(_escape(headline(content))))
    if content.kind == "resolved":
        blocks.append(_section(f"*{_escape(content.rule)}* no longer breaches its threshold."))
    if content.breaches:
        blocks.append(
            _section("*What breached*\n" + _bullets([describe_breach(b) for b in content.breaches]))
        )
    if content.top_drifted:
        lines = [_drifted_line(d) for d in content.top_drifted]
        blocks.append(_section("*Top drifted columns*\n" + _bullets(lines)))
    if content.note and content.note != "new":
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(content.note)}]}
        )
    links = _links(content)
    return [*blocks, links] if links else blocks


def _drifted_line(drifted: DriftedColumn) -> str:
    method = f" ({drifted.method})" if drifted.method else ""
    return f"{drifted.column}: {format_value(drifted.score)}{method}"


@dataclass(frozen=True)
class SlackMessage:
    """A chat.postMessage / webhook body: Block Kit blocks and the plain-text fallback."""

    text: str
    blocks: tuple[dict[str, Any], ...] = field(default=())


def slack_message(contents: Sequence[AlertContent]) -> SlackMessage:
    """One alert as its own message; several as one digest (a burst must not flood a channel)."""
    if not contents:
        raise ValueError("nothing to say: no alert contents")
    if len(contents) == 1:
        text = _escape(headline(contents[0]))
        return SlackMessage(_clip(text, 3000), tuple(alert_blocks(contents[0])))
    worst = max(contents, key=lambda c: severity_rank(c.severity)).severity
    title = f"{_ICONS[worst]} driftwise: {len(contents)} alerts"
    lines = [headline(c) for c in contents]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}},
        _section(_bullets(lines)),
    ]
    runbooks = sorted({c.runbook_url for c in contents if c.runbook_url})
    if runbooks:
        links = " · ".join(f"<{_escape(url)}|Runbook>" for url in runbooks[:5])
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    return SlackMessage(_clip(_escape(f"{title}: " + "; ".join(lines)), 3000), tuple(blocks))


def json_payload(contents: Sequence[AlertContent]) -> dict[str, Any]:
    """The plain JSON webhook body: a text summary and the structured alerts."""
    return {
        "source": "driftwise",
        "text": "; ".join(headline(content) for content in contents),
        "alerts": [content.to_json() for content in contents],
    }
