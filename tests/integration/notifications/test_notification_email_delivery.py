"""The email courier: retried while SMTP is away, sent once, abandoned after N tries."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext

from haven_notifications.adapters.email_queue import EmailQueue, queue_email
from haven_notifications.domain.emails import EmailKind, OutgoingEmail
from haven_runtime.db import Database

from .conftest import (
    Mailbox,
    Staff,
    StartNotifications,
    eventually,
    handled_up_to,
    incident_recorded,
    password_reset_requested,
    publish,
)


async def test_with_the_smtp_server_down_an_email_is_retried_and_sent_once_it_is_back_once(
    start_notifications: StartNotifications, stopped_mailbox: Mailbox, js: JetStreamContext
) -> None:
    mailbox = stopped_mailbox
    notifications = await start_notifications(smtp_port=mailbox.port, email_max_attempts=100)
    member = Staff.new()
    await publish(
        js,
        password_reset_requested(
            member, "https://haven.example/reset-password?token=t1", _in_an_hour()
        ),
        producer="identity",
    )

    async def failed_twice() -> bool:
        attempts = await notifications.attempts_for(member.email)
        return len(attempts) >= 2

    await eventually(failed_twice, what="two failed tries")
    [queued] = await notifications.emails_to(member.email)
    assert queued["status"] in ("queued", "sending")
    assert queued["last_error"]
    assert {a["outcome"] for a in await notifications.attempts_for(member.email)} == {"failed"}

    mailbox.start()
    [message] = await eventually(lambda: mailbox.messages_to(member.email), what="the email")

    async def sent() -> list:  # type: ignore[type-arg]
        rows = await notifications.emails_to(member.email)
        return [r for r in rows if r["status"] == "sent"]

    [row] = await eventually(sent, what="marked sent")
    await asyncio.sleep(1.5)  # several retry periods: nothing more may go out
    assert len(mailbox.messages_to(member.email)) == 1
    attempts = await notifications.attempts_for(member.email)
    assert [a["outcome"] for a in attempts][-1] == "sent"
    assert all(a["outcome"] == "failed" for a in attempts[:-1])
    assert row["attempts"] == len(attempts)
    assert row["sent_at"] is not None and row["last_error"] is None
    # The Message-ID minted at the first try is the one that went out.
    assert message["Message-ID"] == row["message_id"]
    assert message["Message-ID"].endswith("@haven.school.example>")


async def test_an_email_is_abandoned_after_the_configured_number_of_tries(
    start_notifications: StartNotifications, stopped_mailbox: Mailbox, js: JetStreamContext
) -> None:
    notifications = await start_notifications(smtp_port=stopped_mailbox.port, email_max_attempts=3)
    member = Staff.new()
    await publish(
        js,
        password_reset_requested(member, "https://haven.example/r?token=t2", _in_an_hour()),
        producer="identity",
    )

    async def abandoned() -> list:  # type: ignore[type-arg]
        rows = await notifications.emails_to(member.email)
        return [r for r in rows if r["status"] == "abandoned"]

    [row] = await eventually(abandoned, what="abandoned")
    await asyncio.sleep(1.5)  # longer than the retry cap: no fourth try
    attempts = await notifications.attempts_for(member.email)
    assert len(attempts) == 3 == row["attempts"]
    assert all(a["outcome"] == "failed" and a["error"] for a in attempts)
    assert row["sent_at"] is None and row["last_error"]


async def test_two_replicas_send_each_queued_email_exactly_once(
    start_notifications: StartNotifications,
    mailbox: Mailbox,
    js: JetStreamContext,
) -> None:
    first = await start_notifications(smtp_port=mailbox.port)
    await start_notifications(smtp_port=mailbox.port, database_url=first.database_url)
    school = str(uuid.uuid4())
    staff = [Staff.new(f"Member {i}") for i in range(30)]
    last = await publish(js, incident_recorded(school, staff))
    await handled_up_to(js, "notifications-alerts", last)

    async def all_delivered() -> bool:
        return all(mailbox.messages_to(s.email) for s in staff)

    await eventually(all_delivered, what="every email delivered")
    await asyncio.sleep(1.0)
    for member in staff:
        assert len(mailbox.messages_to(member.email)) == 1
    rows = await first.query(
        "SELECT status, attempts FROM emails WHERE recipient = ANY($1::text[])",
        [s.email for s in staff],
    )
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 1)] * len(staff)


async def test_a_queued_email_is_sent_at_once_without_waiting_for_a_poll(
    start_notifications: StartNotifications, mailbox: Mailbox, js: JetStreamContext
) -> None:
    notifications = await start_notifications(smtp_port=mailbox.port)
    # Let the dispatcher settle into its (30 s) sleep before mail is queued.
    await asyncio.sleep(1.0)
    member = Staff.new()
    began = asyncio.get_running_loop().time()
    last = await publish(js, incident_recorded(str(uuid.uuid4()), [member]))
    await handled_up_to(js, "notifications-alerts", last)
    await eventually(lambda: mailbox.messages_to(member.email), within=5.0, what="the email")
    assert asyncio.get_running_loop().time() - began < 5.0
    assert notifications.service.background  # the dispatcher is a background job


def _in_an_hour() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


async def test_email_goes_through_a_relay_that_wants_a_login(
    start_notifications: StartNotifications, mailbox: Mailbox, js: JetStreamContext
) -> None:
    notifications = await start_notifications(
        smtp_port=mailbox.port, smtp_user="haven-relay", smtp_password="relay-password"
    )
    member = Staff.new()
    await publish(js, incident_recorded(str(uuid.uuid4()), [member]))
    await eventually(lambda: mailbox.messages_to(member.email), what="the email")
    [row] = await notifications.emails_to(member.email)
    assert row["status"] == "sent"


async def test_an_email_whose_sender_died_mid_send_is_sent_again_with_the_same_message_id(
    start_notifications: StartNotifications, mailbox: Mailbox
) -> None:
    notifications = await start_notifications(smtp_port=mailbox.port)
    address = f"{uuid.uuid4().hex[:8]}@school.example"
    message_id = f"<{uuid.uuid4().hex}@haven.school.example>"
    # As a replica leaves it when it dies between claiming and recording: its
    # lease has run out, and nobody knows whether the relay took the message.
    await notifications.query(
        "INSERT INTO emails (id, kind, recipient, subject, text_body, html_body, status,"
        " attempts, message_id, next_attempt_at)"
        " VALUES ($1, 'incident_alert', $2, 'New safeguarding alert', 'Log in.', '<p>Log in.</p>',"
        " 'sending', 1, $3, now() - interval '1 second')",
        uuid.uuid4(),
        address,
        message_id,
    )
    [message] = await eventually(lambda: mailbox.messages_to(address), what="the email")
    assert message["Message-ID"] == message_id
    [row] = await notifications.emails_to(address)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    outcomes = [a["outcome"] for a in await notifications.attempts_for(address)]
    assert outcomes == ["unknown", "sent"]


async def test_renewing_and_releasing_a_batch_touch_only_the_emails_still_this_senders(
    start_notifications: StartNotifications, stopped_mailbox: Mailbox
) -> None:
    notifications = await start_notifications(smtp_port=stopped_mailbox.port)
    await notifications.stop()  # its tables are made; the queue is driven by hand below
    database = Database(notifications.database_url)
    queue = EmailQueue(database, message_id_domain="haven.school.example")
    try:
        addresses = [f"{uuid.uuid4().hex[:8]}@school.example" for _ in range(4)]
        async with database.sessions() as session, session.begin():
            for address in addresses:
                await queue_email(
                    session,
                    OutgoingEmail(
                        EmailKind.INCIDENT_ALERT, address, "Alert", "Log in.", "<p>x</p>"
                    ),
                )
        claimed = await queue.claim_due(limit=4, lease=timedelta(seconds=1), max_attempts=5)
        assert sorted(email.recipient for email in claimed) == sorted(addresses)
        mine, taken, released, _ = claimed
        # Another sender claimed `taken` again after our lease ran out (one more try).
        await notifications.query(
            "UPDATE emails SET attempts = attempts + 1, next_attempt_at = now() WHERE id = $1",
            taken.id,
        )

        async def due_at(email_id: uuid.UUID) -> datetime:
            [row] = await notifications.query(
                "SELECT next_attempt_at FROM emails WHERE id = $1", email_id
            )
            return row["next_attempt_at"]

        taken_due = await due_at(taken.id)
        await queue.renew([mine, taken], timedelta(minutes=10))
        assert await due_at(mine.id) > datetime.now(UTC) + timedelta(minutes=9)
        assert await due_at(taken.id) == taken_due  # not ours any more: untouched

        await queue.release([released, taken])
        rows = {
            row["id"]: row
            for row in await notifications.query(
                "SELECT id, status, attempts FROM emails WHERE id = ANY($1)",
                [mine.id, taken.id, released.id],
            )
        }
        assert (rows[released.id]["status"], rows[released.id]["attempts"]) == ("queued", 0)
        assert (rows[taken.id]["status"], rows[taken.id]["attempts"]) == ("sending", 2)
        assert (rows[mine.id]["status"], rows[mine.id]["attempts"]) == ("sending", 1)
    finally:
        await database.dispose()
