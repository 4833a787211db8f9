"""EventConsumer handles a fetched batch in one transaction, yet each event on its own merits.

Each test runs its own NATS server, so the stream holds only the test's own
messages and they reach the consumer in one batch.
"""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from nats.js.errors import NotFoundError

from haven.events.v1.envelope_pb2 import EventEnvelope
from haven.identity.v1.identity_pb2 import SchoolCreated
from haven_devstack.nats import LocalNats
from haven_devstack.ports import free_port
from haven_devstack.waiting import eventually
from haven_runtime import tracing
from haven_runtime.bus import EventBus
from haven_runtime.consumer import EventConsumer
from haven_runtime.db import Database, UnitOfWork
from haven_runtime.events import Event, envelope_for, subject_for
from haven_runtime.outbox_tables import outbox, processed_events

from .conftest import connected_bus

notes = sa.table("notes", sa.column("id", sa.Uuid), sa.column("text", sa.Text))
STREAM = "HAVEN_EVENTS"


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[EventBus]:
    server = LocalNats(tmp_path / "nats", free_port())
    server.start()
    bus = await connected_bus(server.url)
    yield bus
    await bus.close()
    server.stop()


def new_envelope() -> EventEnvelope:
    return envelope_for(
        SchoolCreated(school_id=str(uuid.uuid4()), trust_id=str(uuid.uuid4()), name="School"),
        event_id=uuid.uuid4(),
        producer="test",
        at=datetime.datetime.now(datetime.UTC),
    )


def trace_of(envelope: EventEnvelope) -> str:
    """A trace id of the event's own, derived from its id."""
    return uuid.UUID(envelope.event_id).hex


async def publish(bus: EventBus, envelope: EventEnvelope, *, msg_id: str | None = None) -> None:
    """Publish as the relay does, in a trace of the event's own.

    Another message id stands for a re-publish after the stream's duplicate window.
    """
    assert bus.js is not None
    await bus.js.publish(
        subject_for(envelope.type),
        envelope.SerializeToString(),
        headers={
            "Nats-Msg-Id": msg_id or envelope.event_id,
            "traceparent": f"00-{trace_of(envelope)}-{'1' * 16}-01",
        },
    )


@dataclass
class Recorder:
    """A handler that writes a note and raises an event per event, failing chosen ones."""

    fail_times: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    # (event id, PostgreSQL transaction id) of each call that returned normally
    returned: list[tuple[str, int]] = field(default_factory=list)
    # event id -> the trace id each call ran in
    traces: dict[str, set[str]] = field(default_factory=dict)

    async def __call__(self, uow: UnitOfWork, event: Event[SchoolCreated]) -> None:
        self.calls[event.event_id] = self.calls.get(event.event_id, 0) + 1
        current = tracing.ids()
        self.traces.setdefault(event.event_id, set()).add(current[0] if current else "")
        await uow.session.execute(sa.insert(notes).values(id=uuid.uuid4(), text=event.event_id))
        uow.publish(SchoolCreated(school_id=event.payload.school_id, name="follow-up"))
        if self.calls[event.event_id] <= self.fail_times.get(event.event_id, 0):
            raise RuntimeError("handler failed on purpose")
        txid = await uow.session.scalar(sa.text("SELECT txid_current()"))
        self.returned.append((event.event_id, int(txid)))


async def count_by_text(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(sa.select(notes.c.text))).scalars().all()
    counts: dict[str, int] = {}
    for text in rows:
        counts[text] = counts.get(text, 0) + 1
    return counts


async def outbox_rows(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(outbox)) or 0)


async def all_acked(bus: EventBus, durable: str) -> bool:
    assert bus.js is not None
    try:
        info = await bus.js.consumer_info(STREAM, durable)
    except NotFoundError:
        return False  # the consumer has not subscribed yet
    return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq > 0


def consumer_of(
    database: Database, bus: EventBus, durable: str, handler: Recorder
) -> EventConsumer:
    return EventConsumer(
        service="test",
        durable=durable,
        db=database,
        bus=bus,
        handlers={SchoolCreated: handler},
        retry_base_seconds=0.2,
    )


async def test_failing_events_are_retried_alone_while_the_rest_of_their_batch_commits_and_is_acked(
    database: Database, bus: EventBus
):
    envelopes = [new_envelope() for _ in range(8)]
    # The first failure makes the consumer try the batch again with a savepoint
    # for each event; the second fails inside its savepoint.
    failing = {envelopes[2].event_id, envelopes[5].event_id}
    for envelope in envelopes:
        await publish(bus, envelope)
    handler = Recorder(fail_times=dict.fromkeys(failing, 1))
    durable = "batch-failure"
    stopping = asyncio.Event()
    task = asyncio.create_task(consumer_of(database, bus, durable, handler).run(stopping))
    try:
        await eventually(lambda: all_acked(bus, durable), what="every message acked")
        assert bus.js is not None
        info = await bus.js.consumer_info(STREAM, durable)
    finally:
        stopping.set()
        await task

    # Every event's work committed exactly once, the failed attempts left nothing
    # behind: one note and one raised event each.
    assert await count_by_text(database) == {e.event_id: 1 for e in envelopes}
    assert await outbox_rows(database) == len(envelopes)
    # Eight deliveries and two redeliveries, of the failing events only: the
    # others were acked after the batch's commit.
    assert info.delivered.consumer_seq == len(envelopes) + len(failing)
    assert info.num_redelivered == 0
    # Each failing handler ran once more after its redelivery, and only then succeeded.
    for event_id in failing:
        assert handler.calls[event_id] == 2
        assert [returned for returned, _ in handler.returned].count(event_id) == 1
    # The six others returned last in one and the same transaction (the batch's),
    # and the failing events' retries in others.
    committed = {event_id: txid for event_id, txid in handler.returned}
    others = {txid for event_id, txid in committed.items() if event_id not in failing}
    assert len(others) == 1
    assert not others & {committed[event_id] for event_id in failing}
    # Each handler ran in the trace of the request that caused its own event.
    assert handler.traces == {e.event_id: {trace_of(e)} for e in envelopes}


async def test_an_event_already_handled_is_skipped_inside_a_batch_and_acked(
    database: Database, bus: EventBus
):
    handler = Recorder()
    durable = "batch-duplicates"
    seen_before = new_envelope()
    await publish(bus, seen_before)
    stopping = asyncio.Event()
    task = asyncio.create_task(consumer_of(database, bus, durable, handler).run(stopping))
    try:
        await eventually(lambda: all_acked(bus, durable), what="the first event acked")
    finally:
        stopping.set()
        await task
    assert handler.calls == {seen_before.event_id: 1}

    # While the consumer is away: new events, the handled one again (a re-publish
    # under a new message id, as after the stream's duplicate window), and one of
    # the new ones twice in the same batch.
    fresh = [new_envelope() for _ in range(3)]
    await publish(bus, fresh[0])
    await publish(bus, seen_before, msg_id=str(uuid.uuid4()))
    await publish(bus, fresh[1])
    await publish(bus, fresh[1], msg_id=str(uuid.uuid4()))
    await publish(bus, fresh[2])
    stopping = asyncio.Event()
    task = asyncio.create_task(consumer_of(database, bus, durable, handler).run(stopping))
    try:
        await eventually(lambda: all_acked(bus, durable), what="the batch acked")
        assert bus.js is not None
        info = await bus.js.consumer_info(STREAM, durable)
    finally:
        stopping.set()
        await task

    everything = [seen_before, *fresh]
    assert await count_by_text(database) == {e.event_id: 1 for e in everything}
    assert await outbox_rows(database) == len(everything)
    assert {event_id for event_id, _ in handler.returned} == {e.event_id for e in everything}
    assert len(handler.returned) == len(everything)
    assert info.delivered.consumer_seq == 6  # each message once: none redelivered
    async with database.engine.connect() as conn:
        claims = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(processed_events)
            .where(processed_events.c.consumer == durable)
        )
    assert claims == len(everything)


async def test_an_event_that_always_fails_is_given_up_while_its_batch_commits(
    database: Database, bus: EventBus
):
    envelopes = [new_envelope() for _ in range(4)]
    poison = envelopes[1].event_id
    for envelope in envelopes:
        await publish(bus, envelope)
    handler = Recorder(fail_times={poison: 1_000})
    durable = "batch-poison"
    stopping = asyncio.Event()
    consumer = EventConsumer(
        service="test",
        durable=durable,
        db=database,
        bus=bus,
        handlers={SchoolCreated: handler},
        max_deliver=3,
        retry_base_seconds=0.05,
    )
    task = asyncio.create_task(consumer.run(stopping))
    try:
        await eventually(lambda: all_acked(bus, durable), what="every message settled")
    finally:
        stopping.set()
        await task

    assert await count_by_text(database) == {
        e.event_id: 1 for e in envelopes if e.event_id != poison
    }
    assert handler.calls[poison] == 3  # then terminated, never again
    async with database.engine.connect() as conn:
        claimed = (
            await conn.scalars(
                sa.select(processed_events.c.event_id).where(processed_events.c.consumer == durable)
            )
        ).all()
    assert {str(event_id) for event_id in claimed} == {
        e.event_id for e in envelopes if e.event_id != poison
    }
