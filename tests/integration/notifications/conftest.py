"""The notifications service, run in-process against real PostgreSQL, NATS and an SMTP sink.

Events are published the way a producer's relay publishes them: an envelope
from haven_runtime.events.envelope_for, sent to JetStream with Nats-Msg-Id.
Every test uses fresh user, school and incident ids (and its own database),
so events other tests left in the shared stream cannot disturb it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import nats
import pytest
from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from haven.identity.v1.identity_pb2 import (
    PasswordChanged,
    PasswordResetRequested,
    SoftKeyReset,
)
from haven.incidents.v1 import incidents_pb2 as incidents
from haven.notifications.v1 import notifications_pb2 as pb
from haven.notifications.v1 import notifications_pb2_grpc as pb_grpc
from haven_devstack.ports import free_port
from haven_devstack.smtp_sink import MailSink, read_messages
from haven_devstack.waiting import eventually  # noqa: F401 - re-exported for tests
from haven_notifications.app import build_service
from haven_notifications.settings import NotificationsSettings
from haven_runtime.bus import ensure_stream
from haven_runtime.events import STREAM, envelope_for, subject_for, timestamp
from haven_runtime.server import Service

PUBLIC_URL = "https://haven.school.example"


@dataclass
class RunningNotifications:
    """One replica of the service, with a stub and its database."""

    service: Service
    task: asyncio.Task[None]
    channel: grpc.aio.Channel
    stub: pb_grpc.NotificationsServiceStub
    database_url: str
    make_token: Callable[..., str]

    def as_user(self, user_id: str, schools: dict[str, str]) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer " + self.make_token(user_id, schools)),)

    async def list_alerts(
        self, user_id: str, schools: dict[str, str], limit: int = 0, cursor: str = ""
    ) -> pb.ListAlertsResponse:
        return await self.stub.ListAlerts(
            pb.ListAlertsRequest(limit=limit, cursor=cursor),
            metadata=self.as_user(user_id, schools),
            timeout=5,
        )

    async def mark_read(self, user_id: str, schools: dict[str, str], alert_id: str) -> None:
        await self.stub.MarkAlertRead(
            pb.MarkAlertReadRequest(alert_id=alert_id),
            metadata=self.as_user(user_id, schools),
            timeout=5,
        )

    async def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def emails_to(self, address: str) -> list[asyncpg.Record]:
        return await self.query("SELECT * FROM emails WHERE recipient = $1", address)

    async def attempts_for(self, address: str) -> list[asyncpg.Record]:
        return await self.query(
            "SELECT a.* FROM email_attempts a JOIN emails e ON e.id = a.email_id "
            "WHERE e.recipient = $1 ORDER BY a.at, a.id",
            address,
        )

    async def stop(self) -> None:
        if not self.task.done():
            self.service.stopping.set()
            await self.task
        await self.channel.close()


StartNotifications = Callable[..., Awaitable[RunningNotifications]]


@pytest.fixture
async def start_notifications(
    create_database, nats_url: str, token_public_key: str, make_token
) -> AsyncIterator[StartNotifications]:  # type: ignore[no-untyped-def]
    """start_notifications(smtp_port=..., database_url=None, **settings) -> a running replica."""
    running: list[RunningNotifications] = []

    async def start(*, smtp_port: int, database_url: str | None = None, **overrides: Any):
        url = database_url or await create_database("notifications")
        options: dict[str, Any] = {
            "database_url": url,
            "nats_url": nats_url,
            "grpc_host": "127.0.0.1",
            "grpc_port": 0,
            "token_public_key": token_public_key,
            "migrate_on_start": True,
            "public_url": PUBLIC_URL,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_from": "Haven <no-reply@haven.school.example>",
            "email_retry_base_seconds": 0.2,
            "email_retry_cap_seconds": 1.0,
            "smtp_timeout_seconds": 5.0,
            "shutdown_grace_seconds": 2.0,
        }
        options.update(overrides)
        service, register = build_service(NotificationsSettings(**options))
        ready = asyncio.Event()
        task = asyncio.create_task(service.run(register, ready))
        await asyncio.wait(
            [task, asyncio.create_task(ready.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        if task.done():
            task.result()  # start-up failed: raise it here
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}")
        replica = RunningNotifications(
            service, task, channel, pb_grpc.NotificationsServiceStub(channel), url, make_token
        )
        running.append(replica)
        # Wait until its consumers are bound, so an event published now is theirs.
        await eventually(lambda: _consumers_bound(service), what="consumers subscribed")
        return replica

    yield start
    for replica in running:
        await replica.stop()


async def _consumers_bound(service: Service) -> bool:
    js = service.bus.js
    if js is None:
        return False
    for consumer in service.consumers:
        try:
            await js.consumer_info(STREAM, consumer.durable)
        except Exception:  # noqa: BLE001 - not created yet
            return False
    await asyncio.sleep(0.3)  # the pull subscription follows the consumer's creation
    return True


@dataclass
class Mailbox:
    """The SMTP sink and the folder it writes each message to."""

    maildir: Path
    port: int
    sink: MailSink | None = None
    _started: list[MailSink] = field(default_factory=list)

    def start(self) -> None:
        self.sink = MailSink(self.maildir, "127.0.0.1", self.port)
        self.sink.start()
        self._started.append(self.sink)

    def stop(self) -> None:
        if self.sink is not None:
            self.sink.stop()
            self.sink = None

    def messages_to(self, address: str) -> list[EmailMessage]:
        return [m for m in read_messages(self.maildir) if address in str(m["To"])]


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    """An SMTP sink on a free port, started."""
    box = Mailbox(tmp_path / "mail", free_port())
    box.maildir.mkdir()
    box.start()
    yield box
    box.stop()


@pytest.fixture
def stopped_mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    """A free port where the SMTP sink is not running yet (start() it in the test)."""
    box = Mailbox(tmp_path / "mail", free_port())
    box.maildir.mkdir()
    yield box
    box.stop()


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    context = nc.jetstream(timeout=5)
    await ensure_stream(context)
    yield context
    await nc.drain()


async def publish(
    js: JetStreamContext,
    payload: Message,
    *,
    event_id: str | None = None,
    nats_msg_id: str | None = None,
    producer: str = "incidents",
) -> int:
    """Publish an event as a producer's relay does; returns its stream sequence.

    `nats_msg_id` other than the event id stands for a redelivery the stream
    cannot recognise (after its duplicate window), which only the consumer's
    own bookkeeping can catch.
    """
    event_id = event_id or str(uuid.uuid4())
    envelope = envelope_for(
        payload, event_id=uuid.UUID(event_id), producer=producer, at=datetime.now(UTC)
    )
    ack = await js.publish(
        subject_for(payload.DESCRIPTOR.full_name),
        envelope.SerializeToString(),
        headers={"Nats-Msg-Id": nats_msg_id or event_id},
    )
    return ack.seq


async def handled_up_to(js: JetStreamContext, durable: str, seq: int) -> None:
    """Wait until the durable consumer has acknowledged every message up to `seq`."""

    async def caught_up() -> bool:
        info = await js.consumer_info(STREAM, durable)
        return info.ack_floor.stream_seq >= seq and info.num_ack_pending == 0

    await eventually(caught_up, what=f"{durable} caught up")


@dataclass(frozen=True)
class Staff:
    user_id: str
    email: str
    name: str

    @classmethod
    def new(cls, name: str = "Staff Member") -> Staff:
        user_id = str(uuid.uuid4())
        return cls(user_id, f"{user_id[:8]}@school.example", name)

    def recipient(self) -> incidents.Recipient:
        return incidents.Recipient(user_id=self.user_id, email=self.email, name=self.name)


def incident_recorded(
    school_id: str,
    recipients: list[Staff],
    *,
    recorded_at: datetime | None = None,
    student_name: str = "Zebedee Quartermain",
    school_name: str = "Oak Hill Primary",
    categories: tuple[str, ...] = ("Neglect",),
) -> incidents.IncidentRecorded:
    recorded_at = recorded_at or datetime.now(UTC)
    return incidents.IncidentRecorded(
        incident_id=str(uuid.uuid4()),
        school_id=school_id,
        school_name=school_name,
        student=incidents.StudentRef(id=str(uuid.uuid4()), display_name=student_name),
        categories=[incidents.NamedRef(id=str(uuid.uuid4()), name=c) for c in categories],
        recorded_by=incidents.NamedRef(id=str(uuid.uuid4()), name="Mrs Recorder"),
        occurred_at=timestamp(recorded_at),
        recorded_at=timestamp(recorded_at),
        recipients=[r.recipient() for r in recipients],
    )


def password_reset_requested(
    staff: Staff, reset_url: str, expires_at: datetime
) -> PasswordResetRequested:
    return PasswordResetRequested(
        user_id=staff.user_id,
        email=staff.email,
        name=staff.name,
        reset_url=reset_url,
        expires_at=timestamp(expires_at),
    )


def password_changed(staff: Staff, changed_at: datetime) -> PasswordChanged:
    return PasswordChanged(
        user_id=staff.user_id, email=staff.email, name=staff.name, changed_at=timestamp(changed_at)
    )


def soft_key_reset(staff: Staff, reset_by_name: str, reset_at: datetime) -> SoftKeyReset:
    return SoftKeyReset(
        user_id=staff.user_id,
        email=staff.email,
        name=staff.name,
        reset_by_name=reset_by_name,
        reset_at=timestamp(reset_at),
    )


async def forget_durable(js: JetStreamContext, durable: str) -> None:
    """Delete a durable consumer, so the next service to start creates it afresh.

    Tests in a session share one NATS server; a durable made by an earlier test
    keeps the subjects it was created with, and the runtime only creates a
    durable that is missing. A fresh one replays the stream from the start,
    which the consumer's handled-events table and fresh ids make harmless.
    """
    try:
        await js.delete_consumer(STREAM, durable)
    except NotFoundError:
        pass


def whole_text(message: EmailMessage) -> str:
    """Subject and every text part, as a reader (or a leak) would see them."""
    parts = [str(message["Subject"])]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)
