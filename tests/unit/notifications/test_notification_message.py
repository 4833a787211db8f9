"""The RFC 5322 message the courier hands to SMTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import make_msgid, parsedate_to_datetime

import pytest
from pydantic import ValidationError

from haven_notifications.adapters.email_queue import ClaimedEmail
from haven_notifications.adapters.smtp import compose_message
from haven_notifications.settings import NotificationsSettings

COMMON = {
    "database_url": "postgresql://postgres@127.0.0.1:5432/x",
    "grpc_port": 0,
    "token_public_key": "unused here",
}


def claimed(**changes: object) -> ClaimedEmail:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "recipient": "dsl@school.example",
        "subject": "New safeguarding alert",
        "text_body": "You have been alerted.\n",
        "html_body": "<p>You have been alerted.</p>",
        "message_id": make_msgid(domain="school.example"),
        "created_at": datetime(2026, 11, 30, 10, 15, tzinfo=UTC),
        "attempts": 1,
        "kind": "incident_alert",
    }
    values.update(changes)
    return ClaimedEmail(**values)  # type: ignore[arg-type]


def test_the_message_has_the_headers_a_mail_system_expects() -> None:
    email = claimed()
    message = compose_message(email, sender="Haven <no-reply@school.example>")
    parsed = message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert parsed["From"] == "Haven <no-reply@school.example>"
    assert parsed["To"] == "dsl@school.example"
    assert parsed["Subject"] == "New safeguarding alert"
    assert parsed["Message-ID"] == email.message_id
    assert parsed["Message-ID"].endswith("@school.example>")
    assert parsedate_to_datetime(parsed["Date"]) == email.created_at
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert parsed.get_body(("plain",)).get_content().strip() == "You have been alerted."


def test_a_retry_is_the_same_message() -> None:
    email = claimed()
    sender = "Haven <no-reply@school.example>"
    first = compose_message(email, sender=sender)
    again = compose_message(claimed(**{**email.__dict__, "attempts": 2}), sender=sender)
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Date"] == again["Date"]


def test_settings_take_the_message_id_domain_from_the_sender() -> None:
    settings = NotificationsSettings(**COMMON, smtp_from="Haven <no-reply@trust.example>")
    assert settings.from_address == "no-reply@trust.example"
    assert settings.from_domain == "trust.example"
    assert NotificationsSettings(**COMMON, public_url="https://h.example/").public_url == (
        "https://h.example"
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"smtp_from": "Haven"},
        {"smtp_security": "ssl"},
        {"smtp_user": "relay"},
        {"public_url": "haven.example"},
        {"email_max_attempts": 0},
        {"smtp_ca_file": "/nonexistent/relay-ca.pem"},
    ],
)
def test_bad_email_settings_stop_the_service(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        NotificationsSettings(**COMMON, **bad)
