"""What an alert says: Block Kit for Slack, plain text and JSON for other channels.

Pure: the same contents always render to the same message, so a digest or a retry says what
the first attempt said."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from monitoring_lib.alerts.planning import AlertContent, Breach, DriftedColumn
from monitoring_lib.spec.base import severity_rank

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


def plain_text(content: AlertContent) -> str:
    """One alert as plain text (e-mail, logs): headline, facts, breaches, links."""
    lines = [
        headline(content),
        "",
        f"Model:    {content.model}",
        f"Window:   {content.window_label}",
        f"Severity: {content.severity}",
        f"Decision: {content.decision}",
    ]
    lines += [f"  - {describe_breach(breach)}" for breach in content.breaches]
    if content.top_drifted:
        lines.append("Top drifted columns:")
        lines += [f"  - {d.column}: {format_value(d.score)}" for d in content.top_drifted]
    if content.note and content.note != "new":
        lines.append(content.note)
    for label, url in (
        ("Prefect run", content.prefect_run_url),
        ("HTML report", content.report_url),
        ("Runbook", content.runbook_url),
    ):
        if url:
            lines.append(f"{label}: {url}")
    return "\n".join(lines)
