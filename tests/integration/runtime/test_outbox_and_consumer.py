"""The transactional outbox and the durable consumer, against real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from pathlib import Path

import asyncpg
import nats.errors
import sqlalchemy as sa
from nats.js import JetStreamContext

from haven.identity.v1.identity_pb2 import SchoolCreated
from haven_devstack.nats import LocalNats
from haven_devstack.ports import free_port
from haven_devstack.waiting import eventually
from haven_runtime.consumer import EventConsumer
from haven_runtime.db import Database, UnitOfWork
from haven_runtime.events import Event, envelope_for, subject_for
from haven_runtime.outbox_tables import outbox
from haven_runtime.relay import OutboxRelay

from .conftest import connected_bus

notes = sa.table("notes", sa.column("id", sa.Uuid), sa.column("text", sa.Text))


async def published_event_ids(js: JetStreamContext) -> list[str]:
    """Every event id now in the stream, in order, duplicates included."""
    from haven.events.v1.envelope_pb2 import EventEnvelope

    sub = await js.pull_subscribe("haven.events.>", durable=None)
    ids: list[str] = []
    try:
        while True:
            try:
                batch = await sub.fetch(500, timeout=0.5)
            except (nats.errors.TimeoutError, TimeoutError):
                return ids
            for msg in batch:
                ids.append(EventEnvelope.FromString(msg.data).event_id)
                await msg.ack()
    finally:
        await sub.unsubscribe()


def school_created() -> SchoolCreated:
    return SchoolCreated(
        school_id=str(uuid.uuid4()), trust_id=str(uuid.uuid4()), name="Test School"
    )


async def start(worker, stopping: asyncio.Event) -> asyncio.Task:  # type: ignore[no-untyped-def]
    return asyncio.create_task(worker.run(stopping))


async def test_an_event_is_published_only_after_its_transaction_commits(
    database: Database, nats_url: str
):
    bus = await connected_bus(nats_url)
    stopping = asyncio.Event()
    relay_task = await start(OutboxRelay(database, bus, safety_poll_seconds=0.2), stopping)
    try:
        async with database.unit_of_work("test") as uow:
            event_id = str(uow.publish(school_created()))
            await uow.flush_events()
            await asyncio.sleep(1.0)  # the relay polls meanwhile; the row is not visible to it
            assert event_id not in await published_event_ids(bus.js)
            await uow.commit()

        async def arrived() -> bool:
            return event_id in await published_event_ids(bus.js)

        await eventually(arrived)
        async with database.engine.connect() as conn:
            published_at = await conn.scalar(
                sa.select(outbox.c.published_at).where(outbox.c.id == uuid.UUID(event_id))
            )
        assert published_at is not None
    finally:
        stopping.set()
        await relay_task
        await bus.close()


async def test_a_rolled_back_transaction_publishes_nothing(database: Database, nats_url: str):
    bus = await connected_bus(nats_url)
    stopping = asyncio.Event()
    relay_task = await start(OutboxRelay(database, bus, safety_poll_seconds=0.2), stopping)
    try:
        async with database.unit_of_work("test") as uow:
            event_id = str(uow.publish(school_created()))
            await uow.flush_events()
            await uow.rollback()
        await asyncio.sleep(1.0)
        assert event_id not in await published_event_ids(bus.js)
        async with database.engine.connect() as conn:
            assert await conn.scalar(sa.select(sa.func.count()).select_from(outbox)) == 0
    finally:
        stopping.set()
        await relay_task
        await bus.close()


def recording_handler(failures_before_success: dict[str, int] | None = None):  # type: ignore[no-untyped-def]
    """A handler that writes a note per event, failing the first N times for chosen events."""
    failures = failures_before_success if failures_before_success is not None else {}
    calls: dict[str, int] = {}

    async def handle(uow: UnitOfWork, event: Event[SchoolCreated]) -> None:
        calls[event.event_id] = calls.get(event.event_id, 0) + 1
        await uow.session.execute(sa.insert(notes).values(id=uuid.uuid4(), text=event.event_id))
        if calls[event.event_id] <= failures.get(event.event_id, 0):
            raise RuntimeError("handler failed on purpose")

    return handle, calls


async def note_texts(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        return list((await conn.scalars(sa.select(notes.c.text))).all())


async def test_with_nats_stopped_for_a_while_every_event_arrives_exactly_once(
    database: Database, tmp_path: Path
):
    server = LocalNats(tmp_path / "nats", free_port())
    server.start()
    bus = await connected_bus(server.url)
    handler, _ = recording_handler()
    stopping = asyncio.Event()
    relay = OutboxRelay(database, bus, safety_poll_seconds=0.5)
    consumer = EventConsumer(
        service="test",
        durable="test-outage",
        db=database,
        bus=bus,
        handlers={SchoolCreated: handler},
    )
    tasks = [await start(relay, stopping), await start(consumer, stopping)]
    try:
        server.stop()
        sent = []
        for _ in range(30):
            async with database.unit_of_work("test") as uow:
                sent.append(str(uow.publish(school_created())))
                await uow.commit()
        await asyncio.sleep(2.0)  # the relay keeps failing and backing off meanwhile
        server.start()

        async def all_handled() -> bool:
            return len(await note_texts(database)) >= len(sent)

        await eventually(all_handled, within=30)
        await asyncio.sleep(1.0)  # give any duplicate time to show up
        assert sorted(await note_texts(database)) == sorted(sent)
        info = await bus.js.stream_info("HAVEN_EVENTS")
        assert info.state.messages == len(sent)
        async with database.engine.connect() as conn:
            pending = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(outbox)
                .where(outbox.c.published_at.is_(None))
            )
        assert pending == 0
    finally:
        stopping.set()
        await asyncio.gather(*tasks)
        await bus.close()
        server.stop()


async def test_a_consumer_whose_handler_fails_is_redelivered_and_succeeds_later(
    database: Database, nats_url: str
):
    bus = await connected_bus(nats_url)
    event = school_created()
    envelope = envelope_for(
        event, event_id=uuid.uuid4(), producer="test", at=datetime.datetime.now(datetime.UTC)
    )
    handler, calls = recording_handler({envelope.event_id: 2})
    stopping = asyncio.Event()
    consumer = EventConsumer(
        service="test",
        durable=f"test-retry-{uuid.uuid4().hex[:8]}",
        db=database,
        bus=bus,
        handlers={SchoolCreated: handler},
        retry_base_seconds=0.05,
    )
    task = await start(consumer, stopping)
    try:
        await bus.js.publish(
            subject_for(envelope.type),
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": envelope.event_id},
        )

        async def handled() -> bool:
            return envelope.event_id in await note_texts(database)

        await eventually(handled)
        assert calls[envelope.event_id] == 3
        # The two failed attempts left nothing behind: one note only.
        assert (await note_texts(database)).count(envelope.event_id) == 1
    finally:
        stopping.set()
        await task
        await bus.close()


async def test_a_duplicate_delivery_changes_nothing(database: Database, nats_url: str):
    bus = await connected_bus(nats_url)
    envelope = envelope_for(
        school_created(),
        event_id=uuid.uuid4(),
        producer="test",
        at=datetime.datetime.now(datetime.UTC),
    )
    handler, calls = recording_handler()
    stopping = asyncio.Event()
    durable = f"test-dup-{uuid.uuid4().hex[:8]}"
    consumer = EventConsumer(
        service="test", durable=durable, db=database, bus=bus, handlers={SchoolCreated: handler}
    )
    task = await start(consumer, stopping)
    try:
        # The same event twice, under different message ids (as if published again
        # after the stream's duplicate window had passed).
        for msg_id in (envelope.event_id, str(uuid.uuid4())):
            await bus.js.publish(
                subject_for(envelope.type),
                envelope.SerializeToString(),
                headers={"Nats-Msg-Id": msg_id},
            )

        async def both_acked() -> bool:
            info = await bus.js.consumer_info("HAVEN_EVENTS", durable)
            return (
                info.num_pending == 0
                and info.num_ack_pending == 0
                and info.delivered.stream_seq > 0
            )

        await eventually(both_acked)
        await asyncio.sleep(0.3)
        assert (await note_texts(database)).count(envelope.event_id) == 1
        assert calls[envelope.event_id] == 1
    finally:
        stopping.set()
        await task
        await bus.close()


async def test_a_durable_consumer_that_learns_a_new_event_type_receives_it(
    database: Database, nats_url: str
):
    from haven.identity.v1.identity_pb2 import PasswordChanged

    bus = await connected_bus(nats_url)
    durable = f"test-grow-{uuid.uuid4().hex[:8]}"
    handler, _ = recording_handler()
    stopping = asyncio.Event()
    first = EventConsumer(
        service="test", durable=durable, db=database, bus=bus, handlers={SchoolCreated: handler}
    )
    task = await start(first, stopping)
    await asyncio.sleep(0.5)
    stopping.set()
    await task

    seen: list[str] = []

    async def on_password_changed(uow: UnitOfWork, event: Event[PasswordChanged]) -> None:
        seen.append(event.event_id)

    stopping = asyncio.Event()
    second = EventConsumer(
        service="test",
        durable=durable,
        db=database,
        bus=bus,
        handlers={SchoolCreated: handler, PasswordChanged: on_password_changed},
    )
    task = await start(second, stopping)
    try:
        envelope = envelope_for(
            PasswordChanged(user_id="u"),
            event_id=uuid.uuid4(),
            producer="test",
            at=datetime.datetime.now(datetime.UTC),
        )
        await bus.js.publish(
            subject_for(envelope.type),
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": envelope.event_id},
        )
        await eventually(lambda: envelope.event_id in seen, what="new event type handled")
    finally:
        stopping.set()
        await task
        await bus.close()


async def test_with_the_database_away_longer_than_every_retry_no_event_is_lost(
    nats_url: str, tmp_path: Path
):
    """Events arrive while the service's PostgreSQL is stopped; each is handled once after."""
    from haven_devstack.postgres import LocalPostgres
    from haven_runtime.migrations import upgrade_async

    from .conftest import MIGRATIONS

    server = LocalPostgres(tmp_path / "pg", free_port())
    server.start()
    conn = await asyncpg.connect(server.url + "/postgres")
    await conn.execute('CREATE DATABASE "consumer_outage"')
    await conn.close()
    url = server.database_url("consumer_outage")
    await upgrade_async(MIGRATIONS, url)
    database = Database(url, pool_size=2)
    bus = await connected_bus(nats_url)
    handler, calls = recording_handler()
    stopping = asyncio.Event()
    consumer = EventConsumer(
        service="test",
        durable=f"test-outage-{uuid.uuid4().hex[:8]}",
        db=database,
        bus=bus,
        handlers={SchoolCreated: handler},
        # Two failures would abandon an event, and retries come fast: the outage
        # below outlasts them all many times over.
        max_deliver=2,
        retry_base_seconds=0.01,
        ack_wait_seconds=2.0,
    )
    task = await start(consumer, stopping)
    event_ids: list[str] = []
    try:
        server.stop()
        for _ in range(5):
            envelope = envelope_for(
                school_created(),
                event_id=uuid.uuid4(),
                producer="test",
                at=datetime.datetime.now(datetime.UTC),
            )
            event_ids.append(envelope.event_id)
            await bus.js.publish(
                subject_for(envelope.type),
                envelope.SerializeToString(),
                headers={"Nats-Msg-Id": envelope.event_id},
            )
        await asyncio.sleep(8.0)  # four ack waits, and far more than two quick retries
        server.start()

        async def ours() -> list[str]:
            # The stream also holds other tests' SchoolCreated events, which this new
            # durable consumer receives too; only this test's five are counted.
            return sorted(n for n in await note_texts(database) if n in event_ids)

        async def all_handled() -> bool:
            return await ours() == sorted(event_ids)

        await eventually(all_handled, within=60)
        await asyncio.sleep(3.0)  # time for any stray redelivery to show itself
        assert await ours() == sorted(event_ids)  # once each
    finally:
        stopping.set()
        await task
        await bus.close()
        await database.dispose()
        server.stop()
