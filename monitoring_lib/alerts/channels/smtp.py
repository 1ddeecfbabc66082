"""E-mail over the SMTP server in the settings (DRIFTWISE_SMTP_*).

One message per alert, or one digest; its Message-ID derives from the alerts' dedup keys, so a
resend after an ambiguous failure threads with the first copy.
"""

from __future__ import annotations

import hashlib
import smtplib
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage

from monitoring_lib.alerts.channels.base import (
    SENT,
    AlertChannel,
    ChannelContext,
    Pacing,
    PostResult,
    pacing_of,
)
from monitoring_lib.alerts.content import headline, plain_text
from monitoring_lib.alerts.planning import AlertContent
from monitoring_lib.observability.redaction import redact
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec.alerts import EmailChannelSpec


def email_message(
    contents: Sequence[AlertContent],
    dedup_keys: Sequence[str],
    *,
    sender: str,
    to: Sequence[str],
    subject_prefix: str = "[driftwise]",
) -> EmailMessage:
    """One alert, or a digest of several, as a plain-text e-mail."""
    if not contents:
        raise ValueError("nothing to say: no alert contents")
    title = headline(contents[0]) if len(contents) == 1 else f"{len(contents)} alerts"
    message = EmailMessage()
    message["Subject"] = " ".join(f"{subject_prefix} {title}".split())[:250]
    message["From"], message["To"] = sender, ", ".join(to)
    digest = hashlib.sha256("\n".join(dedup_keys).encode("utf-8")).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@driftwise>"
    message.set_content("\n\n----\n\n".join(plain_text(content) for content in contents))
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
        return SENT

    def delivered(self, dedup_keys: Sequence[str], since: datetime) -> set[str]:
        return set()


def _smtp_failure(error: Exception, password: str, *, down: bool) -> PostResult:
    ambiguous = isinstance(error, TimeoutError | smtplib.SMTPServerDisconnected)
    text = f"e-mail: {type(error).__name__}: {error}".splitlines()[0]
    return _result(False, redact(text, [password]), down=down, ambiguous=ambiguous)


def _result(ok: bool, error: str, *, down: bool = False, ambiguous: bool = False) -> PostResult:
    return PostResult(ok, error[:1000], channel_down=down, ambiguous=ambiguous)


def build(item: EmailChannelSpec, context: ChannelContext) -> AlertChannel | str:
    """The channel, or what is missing: the SMTP server in the settings."""
    settings = context.settings
    if settings.smtp_host is None or settings.smtp_from is None:
        return f"{item.key}: no SMTP server (set DRIFTWISE_SMTP_HOST and DRIFTWISE_SMTP_FROM)"
    return EmailChannel(
        name=item.key, to=item.to, settings=settings, pacing=pacing_of(item),
        subject_prefix=item.subject_prefix, timeout=context.timeout,
    )  # fmt: skip
