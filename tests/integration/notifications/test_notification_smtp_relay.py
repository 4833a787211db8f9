"""Email through a school's relay: STARTTLS or implicit TLS, a login, a verified certificate."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

import pytest
from nats.js import JetStreamContext

from haven_devstack.ports import free_port

from .conftest import (
    PUBLIC_URL,
    Staff,
    StartNotifications,
    eventually,
    incident_recorded,
    publish,
)
from .tls_relay import RELAY_PASSWORD, RELAY_USER, Certificate, TlsRelay, self_signed_certificate

SENDER = "Oak Hill Haven <haven@oakhill.school.example>"

# aiosmtpd's warning about its own test relays (implicit TLS, the one without STARTTLS).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return self_signed_certificate(tmp_path / "tls")


@pytest.fixture
def relays() -> Iterator[list[TlsRelay]]:
    started: list[TlsRelay] = []
    yield started
    for relay in started:
        relay.stop()


def start_relay(relays: list[TlsRelay], certificate: Certificate, mode: str) -> TlsRelay:
    relay = TlsRelay(certificate, free_port(), mode)  # type: ignore[arg-type]
    relay.start()
    relays.append(relay)
    return relay


@pytest.mark.parametrize(
    ("security", "mode"),
    [("starttls", "starttls"), ("tls", "tls")],
    ids=["starttls-port-587-style", "implicit-tls-port-465-style"],
)
async def test_email_goes_through_a_relay_over_tls_with_a_login_as_a_proper_rfc5322_message(
    start_notifications: StartNotifications,
    js: JetStreamContext,
    certificate: Certificate,
    relays: list[TlsRelay],
    security: str,
    mode: str,
) -> None:
    relay = start_relay(relays, certificate, mode)
    notifications = await start_notifications(
        smtp_port=relay.port,
        smtp_security=security,
        smtp_user=RELAY_USER,
        smtp_password=RELAY_PASSWORD,
        smtp_ca_file=certificate.cert_file,
        smtp_from=SENDER,
    )
    dsl = Staff.new("Dee Ess-Ell")
    await publish(js, incident_recorded(str(uuid.uuid4()), [dsl]))

    [delivery] = await eventually(lambda: relay.deliveries, what="the email at the relay")
    assert delivery.tls and delivery.login == RELAY_USER
    assert delivery.mail_from == "haven@oakhill.school.example"
    assert delivery.rcpt_tos == [dsl.email]
    message = delivery.message
    assert message["From"] == SENDER
    assert message["To"] == dsl.email
    assert message["Subject"] == "New safeguarding alert"
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    [row] = await notifications.emails_to(dsl.email)
    assert message["Message-ID"] == row["message_id"]
    assert parseaddr(message["Message-ID"])[1].endswith("@oakhill.school.example")
    assert message["MIME-Version"] == "1.0"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert (
        f"Log in to Haven to review it: {PUBLIC_URL}/" in message.get_body(("plain",)).get_content()
    )
    assert f'href="{PUBLIC_URL}/"' in message.get_body(("html",)).get_content()

    async def sent() -> bool:
        [row] = await notifications.emails_to(dsl.email)
        return row["status"] == "sent"

    await eventually(sent, what="marked sent")


async def test_a_wrong_password_is_a_failed_try_recorded_and_nothing_is_sent(
    start_notifications: StartNotifications,
    js: JetStreamContext,
    certificate: Certificate,
    relays: list[TlsRelay],
) -> None:
    relay = start_relay(relays, certificate, "starttls")
    notifications = await start_notifications(
        smtp_port=relay.port,
        smtp_security="starttls",
        smtp_user=RELAY_USER,
        smtp_password="not the relay's password",
        smtp_ca_file=certificate.cert_file,
        email_max_attempts=2,
    )
    dsl = Staff.new()
    await publish(js, incident_recorded(str(uuid.uuid4()), [dsl]))

    async def abandoned() -> list:  # type: ignore[type-arg]
        return [r for r in await notifications.emails_to(dsl.email) if r["status"] == "abandoned"]

    await eventually(abandoned, what="abandoned after two tries")
    attempts = await notifications.attempts_for(dsl.email)
    assert [a["outcome"] for a in attempts] == ["failed", "failed"]
    assert all("535" in a["error"] or "Authentication" in a["error"] for a in attempts)
    assert relay.deliveries == []


async def test_a_relay_whose_certificate_is_not_trusted_is_never_sent_the_email(
    start_notifications: StartNotifications,
    js: JetStreamContext,
    certificate: Certificate,
    relays: list[TlsRelay],
) -> None:
    relay = start_relay(relays, certificate, "tls")
    # No smtp_ca_file: the self-signed certificate is not one the system trusts.
    notifications = await start_notifications(
        smtp_port=relay.port,
        smtp_security="tls",
        smtp_user=RELAY_USER,
        smtp_password=RELAY_PASSWORD,
    )
    dsl = Staff.new()
    await publish(js, incident_recorded(str(uuid.uuid4()), [dsl]))

    async def failed_twice() -> list:  # type: ignore[type-arg]
        attempts = await notifications.attempts_for(dsl.email)
        return attempts if len(attempts) >= 2 else []

    attempts = await eventually(failed_twice, what="two failed tries")
    assert {a["outcome"] for a in attempts} == {"failed"}
    assert any("CERTIFICATE_VERIFY_FAILED" in a["error"] for a in attempts)
    assert relay.deliveries == []


async def test_starttls_is_never_skipped_when_the_relay_does_not_offer_it(
    start_notifications: StartNotifications,
    js: JetStreamContext,
    certificate: Certificate,
    relays: list[TlsRelay],
) -> None:
    # A relay (or someone in the middle) that offers no STARTTLS: the password
    # and the email must not cross the network in clear.
    relay = start_relay(relays, certificate, "plain")
    notifications = await start_notifications(
        smtp_port=relay.port,
        smtp_security="starttls",
        smtp_user=RELAY_USER,
        smtp_password=RELAY_PASSWORD,
        smtp_ca_file=certificate.cert_file,
    )
    dsl = Staff.new()
    await publish(js, incident_recorded(str(uuid.uuid4()), [dsl]))

    async def failed() -> list:  # type: ignore[type-arg]
        return await notifications.attempts_for(dsl.email)

    [first, *_] = await eventually(failed, what="a failed try")
    assert first["outcome"] == "failed"
    assert "STARTTLS" in first["error"] or "starttls" in first["error"].lower()
    await asyncio.sleep(0.5)
    assert relay.deliveries == []
