"""Two more alert channels for the outbox: PagerDuty (Events API v2) and e-mail over SMTP.

Both satisfy ``alert_delivery.AlertChannel``, so ``deliver_pending`` drains them like Slack: a
failed post leaves the rows pending with a redacted error, and the next run tries again.

- PagerDuty pages people, so it takes only ``high`` and ``critical`` alerts. Every event of one
  (model, rule) carries the same dedup key: a reminder joins the open incident, a ``resolved``
  alert closes it, and a retry after an ambiguous failure cannot open a second incident. A
  ``test`` message is a change event, which shows on the service without paging anyone.
- E-mail sends one message per alert (or one digest); its Message-ID derives from the alerts'
  dedup keys, so a resend after an ambiguous failure threads with the first copy.

``monitoring_lib.alerts`` imports the spec classes below for its channel union, so this module
imports the alert modules inside the functions that need them, never at import time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import smtplib
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING

from pydantic import SecretStr

from monitoring_lib.settings import DriftwiseSettings

if TYPE_CHECKING:
    from monitoring_lib.alerts.outbox import AlertChannel, Pacing, PostResult
    from monitoring_lib.alerts.planning import AlertContent
from monitoring_lib.spec.alerts import EmailChannelSpec, PagerDutyChannelSpec

log = logging.getLogger(__name__)

_PAGER_SEVERITY = {"critical": "critical", "high": "error", "warning": "warning", "info": "info"}


def _result(
    ok: bool, error: str = "", *, down: bool = False, ambiguous: bool = False
) -> PostResult:
    from monitoring_lib.alerts.outbox import PostResult

    return PostResult(ok, error[:1000], channel_down=down, ambiguous=ambiguous)


def _redacted(text: str, secrets: Sequence[str]) -> str:
    from monitoring_lib.alerts.outbox import redact

    return redact(text, secrets)


# ---- PagerDuty ------------------------------------------------------------------------------


def incident_key(model: str, rule: str) -> str:
    """One dedup key per (model, rule) for every event (PagerDuty allows 255 characters)."""
    key = f"driftwise|{model}|{rule}"
    return key if len(key) <= 255 else f"{key[:200]}|{hashlib.sha256(key.encode()).hexdigest()}"


def pagerduty_event(content: AlertContent, routing_key: str) -> tuple[str, dict[str, object]]:
    """The Events API path and body of one alert: trigger, resolve, or a change event (test)."""
    from monitoring_lib.alerts.planning import describe_breach, headline

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
        return _result(True)

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
                False, _redacted(text, secrets), down=not bad_event, ambiguous=error.code >= 500
            )
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            text = f"PagerDuty: could not post ({type(reason).__name__}: {reason})"
            ambiguous = isinstance(reason, TimeoutError)
            return _result(False, _redacted(text, secrets), down=True, ambiguous=ambiguous)
        return None

    def delivered(self, dedup_keys: Sequence[str], since: datetime) -> set[str]:
        return set()


# ---- e-mail ---------------------------------------------------------------------------------


def _content_text(content: AlertContent) -> str:
    from monitoring_lib.alerts.planning import describe_breach, format_value, headline

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


def email_message(
    contents: Sequence[AlertContent],
    dedup_keys: Sequence[str],
    *,
    sender: str,
    to: Sequence[str],
    subject_prefix: str = "[driftwise]",
) -> EmailMessage:
    """One alert, or a digest of several, as a plain-text e-mail."""
    from monitoring_lib.alerts.planning import headline

    if not contents:
        raise ValueError("nothing to say: no alert contents")
    title = headline(contents[0]) if len(contents) == 1 else f"{len(contents)} alerts"
    message = EmailMessage()
    message["Subject"] = " ".join(f"{subject_prefix} {title}".split())[:250]
    message["From"], message["To"] = sender, ", ".join(to)
    digest = hashlib.sha256("\n".join(dedup_keys).encode("utf-8")).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@driftwise>"
    message.set_content("\n\n----\n\n".join(_content_text(content) for content in contents))
    return message


class EmailChannel:
    """Sends through one SMTP connection per post; a mail server cannot be read back."""

    def __init__(
        self,
        *,
        name: str,
        to: Sequence[str],
        settings: DriftwiseSettings,
        pacing: Pacing,
        subject_prefix: str = "[driftwise]",
        timeout: float = 10,
    ) -> None:
        if settings.smtp_host is None or settings.smtp_from is None:
            raise ValueError("an e-mail channel needs DRIFTWISE_SMTP_HOST and DRIFTWISE_SMTP_FROM")
        self.name, self.pacing, self.to = name, pacing, tuple(to)
        self._host, self._sender = settings.smtp_host, settings.smtp_from
        self._settings, self._prefix, self._timeout = settings, subject_prefix, timeout

    def __repr__(self) -> str:
        return f"EmailChannel(name={self.name!r}, to={list(self.to)!r})"

    def post(self, contents: Sequence[AlertContent], dedup_keys: Sequence[str]) -> PostResult:
        config = self._settings
        message = email_message(
            contents, dedup_keys, sender=self._sender, to=self.to, subject_prefix=self._prefix
        )
        password = config.smtp_password.get_secret_value() if config.smtp_password else ""
        smtp_class = smtplib.SMTP_SSL if config.smtp_security == "ssl" else smtplib.SMTP
        try:
            with smtp_class(self._host, config.smtp_port, timeout=self._timeout) as smtp:
                if config.smtp_security == "starttls":
                    smtp.starttls()
                if config.smtp_username:
                    smtp.login(config.smtp_username, password)
                smtp.send_message(message)
        except smtplib.SMTPDataError as error:  # this message refused (size, content)
            return _smtp_failure(error, password, down=False)
        except (smtplib.SMTPException, OSError) as error:
            return _smtp_failure(error, password, down=True)
        return _result(True)

    def delivered(self, dedup_keys: Sequence[str], since: datetime) -> set[str]:
        return set()


def _smtp_failure(error: Exception, password: str, *, down: bool) -> PostResult:
    ambiguous = isinstance(error, TimeoutError | smtplib.SMTPServerDisconnected)
    text = f"e-mail: {type(error).__name__}: {error}".splitlines()[0]
    return _result(False, _redacted(text, [password]), down=down, ambiguous=ambiguous)


# ---- building -------------------------------------------------------------------------------


def extra_channel(
    item: PagerDutyChannelSpec | EmailChannelSpec,
    settings: DriftwiseSettings,
    *,
    environ_key: SecretStr | None = None,
    timeout: float = 10,
) -> AlertChannel | str:
    """The channel of one spec entry, or a line saying what is missing (for
    ``ConfiguredChannels.problems``). ``environ_key``: the routing key ``routing_key_env`` names."""
    from monitoring_lib.alerts.outbox import Pacing

    pacing = Pacing(item.min_interval_seconds, item.digest_after)
    if isinstance(item, PagerDutyChannelSpec):
        key = environ_key if item.routing_key_env else settings.pagerduty_routing_key
        if key is None:
            variable = item.routing_key_env or "DRIFTWISE_PAGERDUTY_ROUTING_KEY"
            return f"{item.key}: no PagerDuty routing key (set {variable})"
        if not settings.pagerduty_events_url.lower().startswith(("https://", "http://")):
            return f"{item.key}: DRIFTWISE_PAGERDUTY_EVENTS_URL does not start with https://"
        return PagerDutyChannel(
            name=item.key, routing_key=key, pacing=pacing,
            events_url=settings.pagerduty_events_url, timeout=timeout,
        )  # fmt: skip
    if settings.smtp_host is None or settings.smtp_from is None:
        return f"{item.key}: no SMTP server (set DRIFTWISE_SMTP_HOST and DRIFTWISE_SMTP_FROM)"
    return EmailChannel(
        name=item.key, to=item.to, settings=settings, pacing=pacing,
        subject_prefix=item.subject_prefix, timeout=timeout,
    )  # fmt: skip
