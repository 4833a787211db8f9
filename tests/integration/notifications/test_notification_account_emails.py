"""Account emails from identity's events: the reset link, a changed password, a reset soft key."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext

from .conftest import (
    Mailbox,
    Staff,
    StartNotifications,
    eventually,
    forget_durable,
    handled_up_to,
    password_changed,
    password_reset_requested,
    publish,
    soft_key_reset,
    whole_text,
)


async def test_the_reset_email_carries_the_link_and_how_long_it_lasts(
    start_notifications: StartNotifications, mailbox: Mailbox, js: JetStreamContext
) -> None:
    notifications = await start_notifications(smtp_port=mailbox.port)
    member = Staff.new("Ada Lovelace")
    link = "https://haven.school.example/reset-password?token=Zm9vYmFy-secret"
    event = password_reset_requested(member, link, datetime.now(UTC) + timedelta(minutes=60))
    await publish(js, event, producer="identity")

    [message] = await eventually(lambda: mailbox.messages_to(member.email), what="the email")
    assert message["To"] == member.email
    text = whole_text(message)
    assert link in message.get_body(("plain",)).get_content()
    assert "expires in 60 minutes" in text
    assert "If you did not ask for this" in text
    assert message.get_body(("html",)) is not None

    # Once sent, the live link does not stay behind in our database.
    async def wiped() -> bool:
        [row] = await notifications.emails_to(member.email)
        return row["status"] == "sent" and link not in row["text_body"] + row["html_body"]

    await eventually(wiped, what="the link wiped")


async def test_a_reset_email_still_queued_when_its_link_expires_is_not_sent_late(
    start_notifications: StartNotifications, stopped_mailbox: Mailbox, js: JetStreamContext
) -> None:
    notifications = await start_notifications(
        smtp_port=stopped_mailbox.port, email_max_attempts=1000
    )
    member = Staff.new()
    link = "https://haven.example/reset-password?token=short-lived"
    await publish(
        js,
        password_reset_requested(member, link, datetime.now(UTC) + timedelta(seconds=2)),
        producer="identity",
    )

    async def given_up() -> list:  # type: ignore[type-arg]
        rows = await notifications.emails_to(member.email)
        return [r for r in rows if r["status"] == "abandoned"]

    [row] = await eventually(given_up, what="given up")
    assert row["last_error"] == "expired before it could be sent"
    assert link not in row["text_body"] + row["html_body"]
    stopped_mailbox.start()
    await asyncio.sleep(1.5)
    assert stopped_mailbox.messages_to(member.email) == []


async def test_a_reset_link_that_expired_before_it_could_be_sent_is_not_sent(
    start_notifications: StartNotifications, mailbox: Mailbox, js: JetStreamContext
) -> None:
    notifications = await start_notifications(smtp_port=mailbox.port)
    member = Staff.new()
    expired = password_reset_requested(
        member, "https://haven.example/r?token=old", datetime.now(UTC) - timedelta(minutes=1)
    )
    last = await publish(js, expired, producer="identity")
    await handled_up_to(js, "notifications-identity", last)
    assert await notifications.emails_to(member.email) == []


async def test_a_changed_password_is_told_to_the_member_with_whom_to_contact_if_it_was_not_them(
    start_notifications: StartNotifications, mailbox: Mailbox, js: JetStreamContext
) -> None:
    await start_notifications(smtp_port=mailbox.port)
    member = Staff.new()
    changed_at = datetime(2026, 11, 30, 10, 15, tzinfo=UTC)
    await publish(js, password_changed(member, changed_at), producer="identity")

    [message] = await eventually(lambda: mailbox.messages_to(member.email), what="the email")
    text = whole_text(message)
    assert message["Subject"] == "Your Haven password was changed"
    assert "changed on 30 November 2026 at 10:15 UTC" in text
    assert "If this was not you, contact your school's Haven administrator" in text


async def test_the_migrate_command_creates_the_tables_and_exits_0(create_database) -> None:  # type: ignore[no-untyped-def]
    url = await create_database("notifications_cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    env["HAVEN_DATABASE_URL"] = url
    result = subprocess.run(  # noqa: ASYNC221 - a short child process
        [sys.executable, "-m", "haven_notifications", "migrate"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    again = subprocess.run(  # noqa: ASYNC221 - migrating twice is harmless
        [sys.executable, "-m", "haven_notifications", "migrate"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr.decode()


async def test_a_reset_soft_key_is_told_to_the_member_once_even_when_delivered_twice(
    start_notifications: StartNotifications, mailbox: Mailbox, js: JetStreamContext
) -> None:
    # The durable may predate SoftKeyReset (an earlier test made it): start afresh.
    await forget_durable(js, "notifications-identity")
    notifications = await start_notifications(smtp_port=mailbox.port)
    member = Staff.new("Ada Lovelace")
    event = soft_key_reset(member, "Grace Hopper", datetime(2026, 11, 30, 10, 15, tzinfo=UTC))
    event_id = str(uuid.uuid4())
    await publish(js, event, event_id=event_id, producer="identity")
    # The same event again, past the stream's duplicate window.
    last = await publish(
        js, event, event_id=event_id, nats_msg_id=str(uuid.uuid4()), producer="identity"
    )
    await handled_up_to(js, "notifications-identity", last)

    [message] = await eventually(lambda: mailbox.messages_to(member.email), what="the email")
    assert message["To"] == member.email
    assert message["Subject"] == "The soft key of your Haven account was reset"
    text = whole_text(message)
    assert "reset by Grace Hopper on 30 November 2026 at 10:15 UTC" in text
    assert "set up your soft key again before you can elevate your access" in text
    assert "If you did not expect this, contact your school's Haven administrator" in text

    await asyncio.sleep(1.0)  # time for any second email to turn up
    [row] = await notifications.emails_to(member.email)
    assert row["kind"] == "soft_key_reset"
    assert row["status"] == "sent"
    assert len(mailbox.messages_to(member.email)) == 1


async def test_the_soft_key_reset_email_names_no_secret(
    start_notifications: StartNotifications, mailbox: Mailbox, js: JetStreamContext
) -> None:
    await forget_durable(js, "notifications-identity")
    await start_notifications(smtp_port=mailbox.port)
    member = Staff.new("Ada Lovelace")
    await publish(
        js,
        soft_key_reset(member, "Grace Hopper", datetime.now(UTC)),
        producer="identity",
    )
    [message] = await eventually(lambda: mailbox.messages_to(member.email), what="the email")
    text = whole_text(message)
    # No key, setup link, code or recovery code: nothing that opens the account.
    for telltale in ("otpauth", "secret=", "token=", "recovery code", "http://", "https://"):
        assert telltale not in text.lower()
    assert re.search(r"\b\d{6}\b", text) is None  # no one-time code
    assert re.search(r"\b[A-Z2-7]{16,}\b", text) is None  # no base32 key
