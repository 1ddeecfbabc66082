"""Secrets out of every text a person or a log may see.

Slack tokens, webhook URLs, the store's password, Pushgateway URLs and routing keys must never
reach a log line, an exception, a stored error or a report. One module owns the rule so that
alert channels and log configuration scrub alike, without importing each other.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

REDACTED = "[redacted]"
_SLACK_TOKEN = re.compile(r"xox[abprs]-[A-Za-z0-9-]+")
_SLACK_HOOK = re.compile(r"https?://hooks\.slack(?:-gov)?\.com/\S+", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s]+@", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without Slack tokens, Slack webhook URLs or any of ``secrets`` (nor a secret URL's
    path, which some clients log without the host)."""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, REDACTED)
        path = re.sub(r"^[a-z][a-z0-9+.-]*://[^/]*", "", secret, flags=re.IGNORECASE)
        if len(path) >= 8 and path != secret:
            text = text.replace(path, REDACTED)
    return _SLACK_HOOK.sub(REDACTED, _SLACK_TOKEN.sub(REDACTED, text))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` without the secrets, Slack tokens and webhooks, or any URL's password."""
    return _URL_PASSWORD.sub(r"\1***@", redact(text, secrets))


class RedactingFilter(logging.Filter):
    """Renders a record's message, scrubs it, and stores the scrubbed traceback in its place,
    before any handler formats it."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage(), self.secrets), None
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = scrub(text, self.secrets), None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text, self.secrets)
        return True
