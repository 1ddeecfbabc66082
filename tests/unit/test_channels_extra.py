"""PagerDuty and e-mail channels against local servers (a PagerDuty stand-in over HTTP, aiosmtpd
for SMTP), and through the outbox worker on a SQLite store."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr, ValidationError
from sqlalchemy import Engine, select

from monitoring_lib.alerts.channels.base import ChannelContext, Pacing
from monitoring_lib.alerts.channels.factory import build_channel
from monitoring_lib.alerts.channels.pagerduty import PagerDutyChannel, incident_key
from monitoring_lib.alerts.channels.smtp import EmailChannel, email_message
from monitoring_lib.alerts.outbox import deliver_pending
from monitoring_lib.alerts.planning import AlertContent, Breach, DriftedColumn
from monitoring_lib.settings import DriftwiseSettings
from monitoring_lib.spec.alerts import EmailChannelSpec, PagerDutyChannelSpec
from monitoring_lib.store.engine import session_factory
from monitoring_lib.store.models import Alert
from monitoring_lib.store.repository import AlertDraft, enqueue_alerts, ensure_model
from monitoring_lib.windows import window_starting_on

ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"
PASSWORD = "smtp-pa55word-secret"
NO_PACING = Pacing(0.0, 5)


def content(
    kind: str = "firing", severity: str = "high", rule: str = "dataset-drift"
) -> AlertContent:
    breaches = (Breach(rule, "drift.share", 0.7, 0.5, severity),) if kind == "firing" else ()
    return AlertContent(
        model="credit",
        window_label="2024-05-02",
        severity=severity,  # type: ignore[arg-type]
        kind=kind,  # type: ignore[arg-type]
        rule=rule,
        breaches=breaches,
        top_drifted=(DriftedColumn("income", 0.41),),
        decision="alert",
        runbook_url="https://runbooks.example.com/credit",
    )


# ---- a PagerDuty stand-in -------------------------------------------------------------------


class PagerDutyServer:
    """Records events; answers 202, or ``status`` when a test sets it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.status = 202
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if owner.status == 202:
                    owner.events.append((self.path, body))
                answer = {"status": "success" if owner.status == 202 else "invalid event"}
                data = json.dumps(answer).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyServer]:
    fake = PagerDutyServer()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    thread.join(timeout=5)


def pd_channel(url: str) -> PagerDutyChannel:
    return PagerDutyChannel(
        name="pagerduty", routing_key=SecretStr(ROUTING_KEY), pacing=NO_PACING, events_url=url
    )


def test_trigger_and_resolve_share_one_dedup_key(pagerduty: PagerDutyServer) -> None:
    channel = pd_channel(pagerduty.url)
    assert channel.post([content("firing", "critical")], ["k1"]).ok
    assert channel.post([content("firing", "critical")], ["k2"]).ok  # a reminder
    assert channel.post([content("resolved", "critical")], ["k3"]).ok
    paths = [path for path, _ in pagerduty.events]
    actions = [event["event_action"] for _, event in pagerduty.events]
    keys = {event["dedup_key"] for _, event in pagerduty.events}
    assert paths == ["/v2/enqueue"] * 3
    assert actions == ["trigger", "trigger", "resolve"]
    assert keys == {incident_key("credit", "dataset-drift")}
    trigger = pagerduty.events[0][1]
    assert trigger["routing_key"] == ROUTING_KEY
    assert trigger["payload"]["severity"] == "critical"
    assert "drift.share: 0.7 > 0.5" in trigger["payload"]["summary"]
    assert trigger["links"] == [{"href": "https://runbooks.example.com/credit", "text": "Runbook"}]
    assert "payload" not in pagerduty.events[2][1]


@pytest.mark.parametrize(("severity", "paged"), [("high", "error"), ("critical", "critical")])
def test_severity_maps_to_pagerduty_words(
    pagerduty: PagerDutyServer, severity: str, paged: str
) -> None:
    assert pd_channel(pagerduty.url).post([content(severity=severity)], ["k"]).ok
    assert pagerduty.events[0][1]["payload"]["severity"] == paged


def test_warnings_are_never_paged(pagerduty: PagerDutyServer) -> None:
    assert pd_channel(pagerduty.url).post([content(severity="warning")], ["k"]).ok
    assert pagerduty.events == []
    with pytest.raises(ValidationError, match="high"):
        PagerDutyChannelSpec.model_validate({"type": "pagerduty", "min_severity": "warning"})


def test_a_test_message_is_a_change_event_not_a_page(pagerduty: PagerDutyServer) -> None:
    assert pd_channel(pagerduty.url).post([content("test", "info")], ["k"]).ok
    assert [path for path, _ in pagerduty.events] == ["/v2/change/enqueue"]


@pytest.mark.parametrize(
    ("status", "down", "ambiguous"), [(400, False, False), (429, True, False), (503, True, True)]
)
def test_failures_are_redacted_results(
    pagerduty: PagerDutyServer, status: int, down: bool, ambiguous: bool
) -> None:
    pagerduty.status = status
    result = pd_channel(pagerduty.url).post([content()], ["k"])
    assert not result.ok
    assert f"HTTP {status}" in result.error
    assert (result.channel_down, result.ambiguous) == (down, ambiguous)
    assert ROUTING_KEY not in result.error


def test_an_unreachable_pagerduty_is_a_result(pagerduty: PagerDutyServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = pd_channel(f"http://127.0.0.1:{port}").post([content()], ["k"])
    assert not result.ok
    assert result.channel_down
    assert "could not post" in result.error


# ---- e-mail ---------------------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # not handled: the server answers 535


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        auth_require_tls=False,
        authenticator=_authenticate,
    )
    controller.start()
    yield mailbox, port
    controller.stop()


def mail_settings(port: int, password: str = PASSWORD) -> DriftwiseSettings:
    return DriftwiseSettings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_username="driftwise",
        smtp_password=SecretStr(password),
        smtp_from="driftwise@example.com",
    )


def mail_channel(port: int, to: list[str], password: str = PASSWORD) -> EmailChannel:
    return EmailChannel(
        name="email:ops", to=to, settings=mail_settings(port, password), pacing=NO_PACING
    )


def test_an_alert_arrives_as_a_plain_text_mail(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    result = mail_channel(port, ["ops@example.com"]).post([content()], ["credit|r|w"])
    assert result.ok, result.error
    ((sender, recipients, raw),) = mailbox.messages
    assert (sender, recipients) == ("driftwise@example.com", ["ops@example.com"])
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"].strip().startswith("[driftwise] [HIGH] credit 2024-05-02")
    body = mail.get_content()
    assert "drift.share: 0.7 > 0.5" in body
    assert "income: 0.41" in body
    assert "Runbook: https://runbooks.example.com/credit" in body


def test_a_resend_keeps_the_message_id() -> None:
    first = email_message([content()], ["a", "b"], sender="d@x.org", to=["o@x.org"])
    again = email_message([content()], ["a", "b"], sender="d@x.org", to=["o@x.org"])
    other = email_message([content()], ["c"], sender="d@x.org", to=["o@x.org"])
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]


def test_a_wrong_password_fails_without_showing_it(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    wrong = "wrong-" + PASSWORD
    result = mail_channel(port, ["ops@example.com"], password=wrong).post([content()], ["k"])
    assert not result.ok
    assert result.channel_down
    assert "SMTPAuthenticationError" in result.error
    assert wrong not in result.error
    assert mailbox.messages == []


def test_a_refused_recipient_is_a_failure(smtp: tuple[Mailbox, int]) -> None:
    _mailbox, port = smtp
    result = mail_channel(port, ["nobody@example.com"]).post([content()], ["k"])
    assert not result.ok
    assert "SMTPRecipientsRefused" in result.error


@pytest.mark.parametrize("bad", ["ops", "a@b", "x <y@z.org>"])
def test_email_spec_refuses_non_addresses(bad: str) -> None:
    with pytest.raises(ValidationError, match="not an e-mail address"):
        EmailChannelSpec.model_validate({"type": "email", "to": [bad]})


def test_missing_settings_name_the_variable() -> None:
    pager = PagerDutyChannelSpec.model_validate({"type": "pagerduty"})
    mail = EmailChannelSpec.model_validate({"type": "email", "to": ["ops@example.com"]})
    assert "DRIFTWISE_PAGERDUTY_ROUTING_KEY" in str(build_channel(pager, ChannelContext()))
    assert "DRIFTWISE_SMTP_HOST" in str(build_channel(mail, ChannelContext()))
    assert mail.key == "email:ops@example.com"
    named = PagerDutyChannelSpec.model_validate({"type": "pagerduty", "routing_key_env": "PD_KEY"})
    made = build_channel(named, ChannelContext(environ={"PD_KEY": SecretStr(ROUTING_KEY)}))
    assert isinstance(made, PagerDutyChannel)
    assert made.name == "pagerduty:PD_KEY"


# ---- through the outbox ---------------------------------------------------------------------


def test_the_outbox_drains_through_both_channels(
    sqlite_engine: Engine, pagerduty: PagerDutyServer, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    sessions = session_factory(sqlite_engine)
    window = window_starting_on(date(2024, 5, 2), timedelta(days=1), "UTC")
    drafts = [
        AlertDraft("dataset-drift", "high", "firing", name, f"credit|dataset-drift|w|{name}", body)
        for name, body in (("pagerduty", content().to_json()), ("email:ops", content().to_json()))
    ]
    with sessions.begin() as session:
        enqueue_alerts(session, ensure_model(session, "credit", "binary"), window, drafts)
    channels = [pd_channel(pagerduty.url), mail_channel(port, ["ops@example.com"])]
    report = deliver_pending(sessions, channels, now=datetime(2024, 5, 3, tzinfo=UTC))
    assert report.ok, report.summary()
    assert (report.sent, report.pending) == (2, 0)
    assert len(pagerduty.events) == 1
    assert len(mailbox.messages) == 1
    with sessions() as session:
        assert {row.status for row in session.execute(select(Alert)).scalars()} == {"sent"}
