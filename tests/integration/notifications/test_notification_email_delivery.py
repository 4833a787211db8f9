"""The email courier: retried while SMTP is away, sent once, abandoned after N tries."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from nats.js import JetStreamContext

from haven_devstack.ports import free_port
from haven_notifications.adapters.email_queue import EmailQueue, queue_email
from haven_notifications.adapters.smtp import SmtpMailer
from haven_notifications.domain.delivery import RetryPolicy
from haven_notifications.domain.emails import EmailKind, OutgoingEmail
from haven_notifications.service_layer.email_dispatcher import EmailDispatcher
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


class SlowRelay:
    """A real SMTP server (aiosmtpd) that takes the first message and then sits on its
    answer, as an overloaded relay does; later messages are answered at once."""

    def __init__(self, answer_after_seconds: float):
        self.answer_after_seconds = answer_after_seconds
        self.messages: list[EmailMessage] = []
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802 - aiosmtpd's hook
        self.messages.append(message_from_bytes(envelope.content, policy=email_policy.default))  # type: ignore[arg-type]
        if len(self.messages) == 1:
            await asyncio.sleep(self.answer_after_seconds)
        return "250 OK"

    def __enter__(self) -> SlowRelay:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


async def test_a_try_that_outlasts_its_cut_off_is_recorded_unknown_and_sent_again_same_message_id(
    start_notifications: StartNotifications, stopped_mailbox: Mailbox
) -> None:
    """Each SMTP step has its own timeout, so a relay answering every step just in time
    could hold a try for ever; the dispatcher cuts the whole try off (at twice the
    timeout plus 5 s; 1 s here) so it ends while the email's lease is still its own."""
    notifications = await start_notifications(smtp_port=stopped_mailbox.port)
    await notifications.stop()  # its tables are made; a dispatcher is driven by hand below
    settings = notifications.service.settings
    database = Database(notifications.database_url)
    address = f"{uuid.uuid4().hex[:8]}@school.example"
    try:
        async with database.sessions() as session, session.begin():
            await queue_email(
                session,
                OutgoingEmail(EmailKind.INCIDENT_ALERT, address, "Alert", "Log in.", "<p>x</p>"),
            )
        with SlowRelay(answer_after_seconds=4.0) as relay:
            dispatcher = EmailDispatcher(
                EmailQueue(database, message_id_domain="haven.school.example"),
                SmtpMailer(settings.model_copy(update={"smtp_port": relay.port})),
                RetryPolicy(max_attempts=5, base_seconds=0.05, cap_seconds=0.1),
                listen_url=database.url,
                sender=settings.smtp_from,
                send_timeout_seconds=5.0,  # no single step times out
                try_cutoff_seconds=1.0,
            )
            assert await dispatcher.dispatch_due() == 1
            [attempt] = await notifications.attempts_for(address)
            assert attempt["outcome"] == "unknown"
            assert "cut off" in attempt["error"]
            [row] = await notifications.emails_to(address)
            assert row["status"] == "queued"  # to be tried again: the relay may have it

            async def sent_again() -> bool:
                await dispatcher.dispatch_due()
                [row] = await notifications.emails_to(address)
                return row["status"] == "sent"

            await eventually(sent_again, what="the second try")
            outcomes = [a["outcome"] for a in await notifications.attempts_for(address)]
            assert outcomes == ["unknown", "sent"]
            # The relay took both; a recipient's mail system can tell them apart by the
            # Message-ID, the same on both.
            assert [m["To"] for m in relay.messages] == [address, address]
            assert relay.messages[0]["Message-ID"] == relay.messages[1]["Message-ID"]
            assert relay.messages[0]["Message-ID"] == row["message_id"]
    finally:
        await database.dispose()


@pytest.mark.parametrize("cutoff", [0.0, -1.0, 35.1, 60.0])
def test_a_try_is_always_cut_off_before_its_lease_ends(cutoff: float) -> None:
    """With a 5 s timeout the lease is 40 s, renewed when less than a try and 5 s remain."""
    with pytest.raises(ValueError, match="before the lease"):
        EmailDispatcher(
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            RetryPolicy(max_attempts=5, base_seconds=1, cap_seconds=2),
            listen_url="postgresql://unused",
            sender="x@example.org",
            send_timeout_seconds=5.0,
            try_cutoff_seconds=cutoff,
        )
