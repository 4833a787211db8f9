"""What Haven's emails say, and what they must never say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from haven_notifications.domain.emails import (
    ALERT_SUBJECT,
    EmailKind,
    describe_lifetime,
    incident_alert_email,
    is_deliverable_address,
    password_changed_email,
    password_reset_email,
    soft_key_reset_email,
)


def test_the_alert_email_asks_the_member_to_log_in_and_review_the_incident() -> None:
    email = incident_alert_email(
        recipient="dsl@school.example",
        school_name="Oak Hill Primary",
        public_url="https://haven.school.example/",
    )
    assert email.kind is EmailKind.INCIDENT_ALERT
    assert email.recipient == "dsl@school.example"
    assert email.subject == ALERT_SUBJECT == "New safeguarding alert"
    assert email.text_body.strip() == (
        "You have been alerted to a new incident at Oak Hill Primary. "
        "Log in to Haven to review it: https://haven.school.example/"
    )
    assert 'href="https://haven.school.example/"' in email.html_body


def test_the_alert_email_escapes_the_school_name_in_html() -> None:
    email = incident_alert_email(
        recipient="dsl@school.example",
        school_name="St <Mary> & St John",
        public_url="http://127.0.0.1:8080",
    )
    assert "St &lt;Mary&gt; &amp; St John" in email.html_body
    assert "<Mary>" not in email.html_body
    assert "Log in to Haven to review it: http://127.0.0.1:8080/" in email.text_body


def test_the_reset_email_carries_the_link_its_lifetime_and_what_to_do_if_unasked() -> None:
    link = "https://haven.school.example/reset-password?token=abc&x=1"
    now = datetime(2026, 11, 30, 10, 0, 10, tzinfo=UTC)
    expires_at = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    email = password_reset_email(
        recipient="new.teacher@school.example",
        name="Ada Lovelace",
        reset_url=link,
        expires_at=expires_at,
        now=now,
    )
    assert email.kind is EmailKind.PASSWORD_RESET
    assert email.expires_at == expires_at
    assert email.carries_a_secret
    assert link in email.text_body
    assert "expires in 60 minutes" in email.text_body
    assert "If you did not ask for this" in email.text_body
    assert "Hello Ada Lovelace," in email.text_body
    # The link is escaped in HTML (& -> &amp;), which browsers undo.
    assert 'href="https://haven.school.example/reset-password?token=abc&amp;x=1"' in email.html_body


def test_the_password_changed_email_says_when_and_whom_to_contact_if_it_was_not_them() -> None:
    email = password_changed_email(
        recipient="teacher@school.example",
        name="Ada",
        changed_at=datetime(2026, 11, 30, 10, 15, tzinfo=UTC),
    )
    assert email.kind is EmailKind.PASSWORD_CHANGED
    assert "Your Haven password was changed on 30 November 2026 at 10:15 UTC." in email.text_body
    assert "If this was not you, contact your school's Haven administrator" in email.text_body


def test_the_soft_key_reset_email_says_who_when_what_now_and_whom_to_tell() -> None:
    email = soft_key_reset_email(
        recipient="teacher@school.example",
        name="Ada",
        reset_by_name="Grace Hopper",
        reset_at=datetime(2026, 11, 30, 10, 15, tzinfo=UTC),
    )
    assert email.kind is EmailKind.SOFT_KEY_RESET
    assert email.recipient == "teacher@school.example"
    assert email.subject == "The soft key of your Haven account was reset"
    assert not email.carries_a_secret
    assert email.expires_at is None
    text = email.text_body
    assert text.startswith("Hello Ada,\n\n")
    assert (
        "The soft key (authenticator app) of your Haven account was reset by Grace Hopper "
        "on 30 November 2026 at 10:15 UTC." in text
    )
    assert "You must set up your soft key again before you can elevate your access" in text
    assert (
        "If you did not expect this, contact your school's Haven administrator or "
        "designated safeguarding lead (DSL) straight away." in text
    )
    assert "http" not in text + email.html_body  # nothing to click: log in as usual


def test_the_soft_key_reset_email_escapes_names_in_html_and_copes_without_them() -> None:
    email = soft_key_reset_email(
        recipient="teacher@school.example",
        name="<b>Ada</b>",
        reset_by_name="Mr <script>alert(1)</script>",
        reset_at=datetime(2026, 11, 30, 22, 5, tzinfo=UTC),
    )
    assert "<script>" not in email.html_body
    assert "Mr &lt;script&gt;alert(1)&lt;/script&gt;" in email.html_body
    assert "&lt;b&gt;Ada&lt;/b&gt;" in email.html_body
    anonymous = soft_key_reset_email(
        recipient="teacher@school.example",
        name="",
        reset_by_name=" ",
        reset_at=datetime(2026, 11, 30, 22, 5, tzinfo=UTC),
    )
    assert anonymous.text_body.startswith("Hello,\n\n")
    assert "was reset by an administrator on 30 November 2026 at 22:05 UTC." in anonymous.text_body


@pytest.mark.parametrize(
    ("lifetime", "words"),
    [
        (timedelta(seconds=20), "less than a minute"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=15), "15 minutes"),
        (timedelta(minutes=60), "60 minutes"),
        (timedelta(hours=3), "3 hours"),
        (timedelta(hours=24), "24 hours"),
        (timedelta(days=3), "3 days"),
    ],
)
def test_a_link_lifetime_is_told_in_words(lifetime: timedelta, words: str) -> None:
    assert describe_lifetime(lifetime) == words


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("teacher@school.example", True),
        ("", False),
        ("teacher", False),
        ("a@b@c", False),
        ("teacher@school.example\r\nBcc: everyone@example.org", False),
        ("Teacher <teacher@school.example>", False),
        ("a@x, b@y", False),
    ],
)
def test_only_a_single_bare_address_is_accepted_as_a_recipient(address: str, ok: bool) -> None:
    assert is_deliverable_address(address) is ok
