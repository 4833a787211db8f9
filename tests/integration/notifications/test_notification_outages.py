"""Nothing lost, nothing twice: the SMTP server away for a long while, the service killed mid-event."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from nats.js import JetStreamContext

from haven_devstack.ports import free_port

from .conftest import (
    PUBLIC_URL,
    Mailbox,
    Staff,
    StartNotifications,
    eventually,
    forget_durable,
    incident_recorded,
    password_changed,
    password_reset_requested,
    publish,
    soft_key_reset,
)

# Each email is tried this many times while the server is away: the ten
# minutes of the promise, shortened by retrying every 0.2-1 s instead of
# every 30 s-1 h.
TRIES_DURING_THE_OUTAGE = 3


async def test_with_smtp_down_for_many_tries_and_haven_restarted_every_email_goes_out_once(
    start_notifications: StartNotifications, stopped_mailbox: Mailbox, js: JetStreamContext
) -> None:
    mailbox = stopped_mailbox
    await forget_durable(js, "notifications-identity")  # an earlier test's may lack event types
    first = await start_notifications(smtp_port=mailbox.port, email_max_attempts=1000)
    school = str(uuid.uuid4())
    alerted = [Staff.new(f"Member {i}") for i in range(8)]
    ada = Staff.new("Ada Lovelace")
    now = datetime.now(UTC)
    await publish(js, incident_recorded(school, alerted))
    await publish(
        js,
        password_reset_requested(
            ada, f"{PUBLIC_URL}/reset-password?token=t", now + timedelta(hours=1)
        ),
        producer="identity",
    )
    await publish(js, password_changed(ada, now), producer="identity")
    await publish(js, soft_key_reset(ada, "Mr Admin", now), producer="identity")
    addresses = [s.email for s in alerted] + [ada.email]
    expected = len(alerted) + 3

    # (A fresh durable replays older identity events of other tests too: count only ours.)
    async def all_tried_often() -> bool:
        rows = await first.query(
            "SELECT e.id, count(a.id) AS tries FROM emails e"
            " LEFT JOIN email_attempts a ON a.email_id = e.id"
            " WHERE e.recipient = ANY($1::text[]) GROUP BY e.id",
            addresses,
        )
        return len(rows) == expected and all(r["tries"] >= TRIES_DURING_THE_OUTAGE for r in rows)

    await eventually(all_tried_often, within=60, what="every email tried during the outage")
    assert not _all(mailbox)  # the server is away
    # Haven restarts while the server is still away: another replica takes the queue.
    await first.stop()
    second = await start_notifications(
        smtp_port=mailbox.port, database_url=first.database_url, email_max_attempts=1000
    )

    mailbox.start()

    async def all_sent() -> bool:
        rows = await second.query(
            "SELECT status FROM emails WHERE recipient = ANY($1::text[])", addresses
        )
        return [r["status"] for r in rows] == ["sent"] * expected

    await eventually(all_sent, within=60, what="every email sent once the server is back")
    await asyncio.sleep(2.0)  # longer than the retry cap: nothing more may go out
    for member in alerted:
        assert len(mailbox.messages_to(member.email)) == 1
    subjects = sorted(str(m["Subject"]) for m in mailbox.messages_to(ada.email))
    assert subjects == [
        "Set your Haven password",
        "The soft key of your Haven account was reset",
        "Your Haven password was changed",
    ]
    assert len([m for m in _all(mailbox) if str(m["To"]) in addresses]) == expected
    # Every try is on record: the failures, then exactly one success per email.
    ours = await second.query(
        "SELECT id, attempts, message_id FROM emails WHERE recipient = ANY($1::text[])",
        addresses,
    )
    for row in ours:
        outcomes = [
            a["outcome"]
            for a in await second.query(
                "SELECT outcome FROM email_attempts WHERE email_id = $1 ORDER BY at, id", row["id"]
            )
        ]
        assert outcomes[-1] == "sent" and outcomes.count("sent") == 1
        assert set(outcomes[:-1]) <= {"failed", "unknown"}
        assert len(outcomes) == row["attempts"] >= TRIES_DURING_THE_OUTAGE + 1
    delivered_ids = sorted(str(m["Message-ID"]) for m in _all(mailbox) if str(m["To"]) in addresses)
    recorded_ids = sorted(r["message_id"] for r in ours)
    assert delivered_ids == recorded_ids


def _all(mailbox: Mailbox) -> list:  # type: ignore[type-arg]
    return mailbox.messages_to("@")


async def test_a_service_killed_mid_event_leaves_no_half_and_its_successor_alerts_each_once(
    start_notifications: StartNotifications,
    mailbox: Mailbox,
    js: JetStreamContext,
    create_database,  # type: ignore[no-untyped-def]
    nats_url: str,
    token_public_key: str,
    tmp_path: Path,
) -> None:
    url = await create_database("notifications")
    log_path = tmp_path / "killed.log"
    victim = _start_process(url, nats_url, token_public_key, mailbox.port, log_path)
    try:
        await eventually(
            lambda: (
                '"consumer subscribed"' in log_path.read_text()
                and "notifications-alerts" in log_path.read_text()
            ),
            within=60,
            what="the service's consumer subscribed",
        )
        await asyncio.sleep(0.5)  # its pull request follows the subscription

        # Hold the emails table, so handling stops after the first alert is
        # written and before its email is: the middle of the event.
        holder = await asyncpg.connect(url)
        await holder.execute("BEGIN")
        await holder.execute("LOCK TABLE emails IN EXCLUSIVE MODE")
        school = str(uuid.uuid4())
        staff = [Staff.new(f"Member {i}") for i in range(3)]
        event = incident_recorded(school, staff)
        await publish(js, event)

        async def stuck_inserting_an_email() -> bool:
            # One transaction that has written an alert and waits to write its email.
            waiting = await holder.fetchval(
                "SELECT count(*) FROM pg_locks email JOIN pg_locks alert ON alert.pid = email.pid"
                " WHERE email.relation = 'emails'::regclass AND NOT email.granted"
                " AND email.mode = 'RowExclusiveLock'"
                " AND alert.relation = 'alerts'::regclass AND alert.granted"
                " AND alert.mode = 'RowExclusiveLock'"
            )
            return bool(waiting)

        await eventually(stuck_inserting_an_email, within=30, what="handling half done")
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        await holder.execute("ROLLBACK")
        await holder.close()
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)

    checker = await asyncpg.connect(url)
    try:
        # The dead process's transaction never committed: no half-handled event.
        assert await checker.fetchval("SELECT count(*) FROM alerts") == 0
        assert await checker.fetchval("SELECT count(*) FROM emails") == 0
    finally:
        await checker.close()

    # Its successor gets the unacknowledged event again (after JetStream's
    # ack wait) and handles it whole.
    successor = await start_notifications(smtp_port=mailbox.port, database_url=url)

    async def everyone_emailed() -> bool:
        return all(mailbox.messages_to(s.email) for s in staff)

    await eventually(everyone_emailed, within=90, what="the event handled by the successor")
    await asyncio.sleep(1.0)
    for member in staff:
        page = await successor.list_alerts(member.user_id, {school: "staff"})
        assert [a.incident_id for a in page.items] == [event.incident_id]
        assert len(mailbox.messages_to(member.email)) == 1
    rows = await successor.query(
        "SELECT user_id FROM alerts WHERE incident_id = $1", event.incident_id
    )
    assert sorted(r["user_id"] for r in rows) == sorted(s.user_id for s in staff)


def _start_process(
    database_url: str, nats_url: str, token_public_key: str, smtp_port: int, log_path: Path
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    env.update(
        HAVEN_DATABASE_URL=database_url,
        HAVEN_NATS_URL=nats_url,
        HAVEN_GRPC_HOST="127.0.0.1",
        HAVEN_GRPC_PORT=str(free_port()),
        HAVEN_TOKEN_PUBLIC_KEY=token_public_key,
        HAVEN_MIGRATE_ON_START="true",
        HAVEN_PUBLIC_URL=PUBLIC_URL,
        HAVEN_SMTP_HOST="127.0.0.1",
        HAVEN_SMTP_PORT=str(smtp_port),
    )
    with log_path.open("wb") as log:
        return subprocess.Popen(  # noqa: S603 - our own service
            [sys.executable, "-m", "haven_notifications"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
