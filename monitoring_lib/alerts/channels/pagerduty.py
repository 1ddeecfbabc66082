"""PagerDuty through its Events API v2 integration key.

PagerDuty pages people, so it takes only ``high`` and ``critical`` alerts. Every event of one
(model, rule) carries the same dedup key: a reminder joins the open incident, a ``resolved`` alert
closes it, and a retry after an ambiguous failure cannot open a second incident. A ``test``
message is a change event, which shows on the service without paging anyone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime

from pydantic import SecretStr

from monitoring_lib.alerts.channels.base import (
    SENT,
    AlertChannel,
    ChannelContext,
    Pacing,
    PostResult,
    pacing_of,
)
from monitoring_lib.alerts.content import describe_breach, headline
from monitoring_lib.alerts.planning import AlertContent
from monitoring_lib.observability.redaction import redact
from monitoring_lib.spec.alerts import PagerDutyChannelSpec

log = logging.getLogger(__name__)

_PAGER_SEVERITY = {"critical": "critical", "high": "error", "warning": "warning", "info": "info"}


def incident_key(model: str, rule: str) -> str:
    """One dedup key per (model, rule) for every event (PagerDuty allows 255 characters)."""
    key = f"driftwise|{model}|{rule}"
    return key if len(key) <= 255 else f"{key[:200]}|{hashlib.sha256(key.encode()).hexdigest()}"


def pagerduty_event(content: AlertContent, routing_key: str) -> tuple[str, dict[str, object]]:
    """The Events API path and body of one alert: trigger, resolve, or a change event (test)."""
    summary = headline(content)[:1024]
    links = [
        {"href": url, "text": label}
        for label, url in (
            ("Prefect run", content.prefect_run_url),
            ("HTML report", content.report_url),
            ("Runbook", content.runbook_url),
        )
        if url
    ]
    details = {
        "model": content.model,
        "window": content.window_label,
        "decision": content.decision,
        "breaches": [describe_breach(breach) for breach in content.breaches],
        "top_drifted": [d.column for d in content.top_drifted],
        "note": content.note,
    }
    source = f"driftwise/{content.model}"
    if content.kind == "test":
        payload = {"summary": summary, "source": source, "custom_details": details}
        return "/v2/change/enqueue", {"routing_key": routing_key, "payload": payload}
    event: dict[str, object] = {
        "routing_key": routing_key,
        "event_action": "resolve" if content.kind == "resolved" else "trigger",
        "dedup_key": incident_key(content.model, content.rule),
    }
    if content.kind == "firing":
        event["payload"] = {
            "summary": summary,
            "source": source,
            "severity": _PAGER_SEVERITY[content.severity],
            "component": content.model,
            "group": "driftwise",
            "class": content.rule or "alert",
            "custom_details": details,
        }
        event |= {"links": links, "client": "driftwise"}
    return "/v2/enqueue", event


class PagerDutyChannel:
    """Posts each alert as its own event. PagerDuty cannot be read back, but its dedup key makes
    a resend harmless, so ``delivered`` reports nothing and a retry simply sends again."""

    def __init__(
        self,
        *,
        name: str,
        routing_key: SecretStr,
        pacing: Pacing,
        events_url: str = "https://events.pagerduty.com",
        timeout: float = 10,
    ) -> None:
        self.name, self.pacing = name, pacing
        self._key, self._base, self._timeout = routing_key, events_url.rstrip("/"), timeout

    def __repr__(self) -> str:
        return f"PagerDutyChannel(name={self.name!r})"

    def post(self, contents: Sequence[AlertContent], dedup_keys: Sequence[str]) -> PostResult:
        for content in contents:
            if content.kind == "firing" and content.severity not in ("high", "critical"):
                log.info("%s: %s alert not paged (%s)", self.name, content.severity, content.rule)
                continue
            path, body = pagerduty_event(content, self._key.get_secret_value())
            failure = self._send(path, body)
            if failure is not None:
                return failure
        return SENT

    def _send(self, path: str, body: dict[str, object]) -> PostResult | None:
        request = urllib.request.Request(  # noqa: S310 -- the URL is http(s), checked when built
            self._base + path,
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        secrets = (self._key.get_secret_value(),)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                response.read(10_000)
        except urllib.error.HTTPError as error:
            answer = error.read(2_000).decode("utf-8", "replace").strip().splitlines()
            text = f"PagerDuty: HTTP {error.code}: {(answer or ['no message'])[0][:200]}"
            bad_event = error.code == 400
            return _result(
                False, redact(text, secrets), down=not bad_event, ambiguous=error.code >= 500
            )
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            text = f"PagerDuty: could not post ({type(reason).__name__}: {reason})"
            ambiguous = isinstance(reason, TimeoutError)
            return _result(False, redact(text, secrets), down=True, ambiguous=ambiguous)
        return None

    def delivered(self, dedup_keys: Sequence[str], since: datetime) -> set[str]:
        return set()


def _result(ok: bool, error: str, *, down: bool = False, ambiguous: bool = False) -> PostResult:
    return PostResult(ok, error[:1000], channel_down=down, ambiguous=ambiguous)


def build(item: PagerDutyChannelSpec, context: ChannelContext) -> AlertChannel | str:
    """The channel, or what is missing: the routing key ``routing_key_env`` names, or the
    settings' DRIFTWISE_PAGERDUTY_ROUTING_KEY."""
    env = item.routing_key_env
    key = context.environ.get(env) if env else context.settings.pagerduty_routing_key
    if key is None:
        return (
            f"{item.key}: no PagerDuty routing key (set {env or 'DRIFTWISE_PAGERDUTY_ROUTING_KEY'})"
        )
    url = context.settings.pagerduty_events_url
    if not url.lower().startswith(("https://", "http://")):
        return f"{item.key}: DRIFTWISE_PAGERDUTY_EVENTS_URL does not start with https://"
    return PagerDutyChannel(
        name=item.key, routing_key=key, pacing=pacing_of(item), events_url=url,
        timeout=context.timeout,
    )  # fmt: skip
