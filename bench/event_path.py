"""The event path, outbox to consumer, beside a bare nats-py publish-and-consume loop.

    .venv/bin/python bench/event_path.py [--events 10000]

Needs a PostgreSQL server: HAVEN_POSTGRES_URL, else
postgresql://postgres@127.0.0.1:5432 (a scratch database, dropped after). Starts
a LocalNats on a free port. Haven's path is built from haven_runtime as the
services build it (and as tests/integration/runtime/test_outbox_and_consumer.py
does): the outbox and processed_events tables with their NOTIFY trigger
(`create_event_tables`), a `Database`, an `EventBus` (which creates the
HAVEN_EVENTS stream), an `OutboxRelay` and an `EventConsumer` whose handler
for SchoolCreated does nothing, so what is measured is the path itself.

1. Outbox to consumer: `events` SchoolCreated events are committed into the
   outbox through `UnitOfWork.publish` (100 a transaction; not timed). Then
   the relay and the consumer start together, in this one process, and the
   clock runs until the handler has seen the last event. Also printed: when
   the relay had published the last one.
2. The bare loop, on the same NATS server, in the same run: one task
   publishes `events` messages of the same size (each acknowledged, one at a
   time) while another pull-consumes (batches of 64) and acks, in one process;
   the clock stops at the last ack (bench/baselines.py `nats_loop`).
3. For the explanation, each stage alone on `events // 2` more events: the
   relay with no consumer running, then the consumer draining what the relay
   published; then, on as many more, the consumer again with every batch
   handled as it is handled after a handler failed (a savepoint for each
   event, its claim inside), to show what the first try without savepoints
   gains.
4. For the explanation, the ways the consumer claims event ids in
   `processed_events`, on the same Database (no NATS), `events // 4` ids
   each: one transaction each (a batch of one event, and the last resort
   when a batch cannot commit); 64 to a transaction with a savepoint each
   (a batch's second try, after a handler failed); and 64 to a transaction
   in one INSERT (a batch's first try).

Goal: the event path at least 0.5 of the bare loop.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from baselines import local_nats, nats_loop, postgres_server_url  # noqa: E402
from common import machine  # noqa: E402

from haven.identity.v1.identity_pb2 import SchoolCreated  # noqa: E402
from haven_runtime.bus import EventBus  # noqa: E402
from haven_runtime.consumer import EventConsumer  # noqa: E402
from haven_runtime.db import Database, UnitOfWork  # noqa: E402
from haven_runtime.events import Event, envelope_for  # noqa: E402
from haven_runtime.logging import configure_logging  # noqa: E402
from haven_runtime.outbox_tables import create_event_tables  # noqa: E402
from haven_runtime.relay import OutboxRelay  # noqa: E402

GOAL = 0.5
FILL_BATCH = 100


class _Op:
    """Just enough of Alembic's `op` for `create_event_tables` on a plain connection."""

    def __init__(self, connection: Any):
        self.connection = connection

    def get_bind(self) -> Any:
        return self.connection

    def execute(self, sql: str) -> None:
        self.connection.exec_driver_sql(sql)


def school_created() -> SchoolCreated:
    return SchoolCreated(
        school_id=str(uuid.uuid4()), trust_id=str(uuid.uuid4()), name="Benchmark School"
    )


def envelope_size() -> int:
    from datetime import UTC, datetime

    envelope = envelope_for(
        school_created(), event_id=uuid.uuid4(), producer="bench", at=datetime.now(UTC)
    )
    return len(envelope.SerializeToString())


async def scratch_database() -> str:
    import asyncpg

    name = f"bench_events_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_server_url() + "/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def drop_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(postgres_server_url() + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def fill_outbox(db: Database, count: int) -> None:
    left = count
    while left:
        async with db.unit_of_work("bench") as uow:
            for _ in range(min(FILL_BATCH, left)):
                uow.publish(school_created())
            await uow.commit()
        left -= min(FILL_BATCH, left)


class Counted:
    """Counts what a stage did and notes when it reached the target."""

    def __init__(self, target: int):
        self.target = target
        self.count = 0
        self.reached_at: float | None = None
        self.done = asyncio.Event()

    def add(self, n: int = 1) -> None:
        self.count += n
        if self.count >= self.target and self.reached_at is None:
            self.reached_at = time.perf_counter()
            self.done.set()


def counting_relay(relay: OutboxRelay, counter: Counted) -> None:
    publish_batch = relay.publish_batch

    async def counted() -> int:
        published = await publish_batch()
        counter.add(published)
        return published

    relay.publish_batch = counted  # type: ignore[method-assign]


def consumer_for(db: Database, bus: EventBus, handled: Counted, durable: str) -> EventConsumer:
    async def handle(uow: UnitOfWork, event: Event[SchoolCreated]) -> None:
        handled.add()

    return EventConsumer(
        service="bench", durable=durable, db=db, bus=bus, handlers={SchoolCreated: handle}
    )


def savepoint_each(consumer: EventConsumer) -> None:
    """Make the consumer skip its first try, as if a handler had failed in every batch."""
    handle_together = consumer._handle_together  # noqa: SLF001 - measuring its second form

    async def with_savepoints(batch: list[Any], *, savepoints: bool) -> bool:
        return await handle_together(batch, savepoints=True)

    consumer._handle_together = with_savepoints  # type: ignore[method-assign]  # noqa: SLF001


async def run_stage(
    workers: list[Any], until: asyncio.Event, timeout: float
) -> None:  # OutboxRelay | EventConsumer
    stopping = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stopping)) for w in workers]
    try:
        await asyncio.wait_for(until.wait(), timeout=timeout)
    finally:
        stopping.set()
        await asyncio.gather(*tasks)


async def subscribed(consumer: EventConsumer, bus: EventBus) -> None:
    """Create the durable consumer before the clock starts (as a running service has)."""
    sub = await consumer._subscribe()  # noqa: SLF001 - the consumer's own set-up, done early
    await sub.unsubscribe()


async def haven_path(db: Database, nats_url: str, events: int) -> dict[str, float]:
    bus = EventBus(nats_url, name="haven-bench")
    await bus.connect(asyncio.Event())
    try:
        # 1. relay and consumer together
        await fill_outbox(db, events)
        published, handled = Counted(events), Counted(events)
        relay = OutboxRelay(db, bus)
        counting_relay(relay, published)
        consumer = consumer_for(db, bus, handled, "bench-together")
        await subscribed(consumer, bus)
        started = time.perf_counter()
        await run_stage([relay, consumer], handled.done, timeout=600)
        assert published.reached_at is not None and handled.reached_at is not None
        together = events / (handled.reached_at - started)
        relay_part = events / (published.reached_at - started)

        # 3. each stage alone, on an emptied stream
        await bus.js.purge_stream("HAVEN_EVENTS")  # type: ignore[union-attr]
        alone = events // 2
        await fill_outbox(db, alone)
        published = Counted(alone)
        relay = OutboxRelay(db, bus)
        counting_relay(relay, published)
        started = time.perf_counter()
        await run_stage([relay], published.done, timeout=600)
        assert published.reached_at is not None
        relay_alone = alone / (published.reached_at - started)
        handled = Counted(alone)
        consumer = consumer_for(db, bus, handled, "bench-alone")
        await subscribed(consumer, bus)
        started = time.perf_counter()
        await run_stage([consumer], handled.done, timeout=600)
        assert handled.reached_at is not None
        consumer_alone = alone / (handled.reached_at - started)

        await bus.js.purge_stream("HAVEN_EVENTS")  # type: ignore[union-attr]
        await fill_outbox(db, alone)
        published = Counted(alone)
        relay = OutboxRelay(db, bus)
        counting_relay(relay, published)
        await run_stage([relay], published.done, timeout=600)
        handled = Counted(alone)
        consumer = consumer_for(db, bus, handled, "bench-savepoints")
        savepoint_each(consumer)
        await subscribed(consumer, bus)
        started = time.perf_counter()
        await run_stage([consumer], handled.done, timeout=600)
        assert handled.reached_at is not None
        savepoints_alone = alone / (handled.reached_at - started)
    finally:
        await bus.close()
    return {
        "together": together,
        "relay_part": relay_part,
        "relay_alone": relay_alone,
        "consumer_alone": consumer_alone,
        "savepoints_alone": savepoints_alone,
    }


async def claim_forms(db: Database, count: int) -> dict[str, float]:
    """Claims per second in each of the three forms EventConsumer uses (see part 4 above)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    from haven_runtime.outbox_tables import processed_events

    ids = [str(uuid.uuid4()) for _ in range(count * 3)]
    each, savepoints, single = ids[:count], ids[count : 2 * count], ids[2 * count :]
    rates = {}
    started = time.perf_counter()
    for event_id in each:
        async with db.unit_of_work("bench") as uow:
            await uow.claim_event("each", event_id)
            await uow.commit()
    rates["each"] = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for first in range(0, count, 64):
        async with db.unit_of_work("bench") as uow:
            for event_id in savepoints[first : first + 64]:
                async with uow.session.begin_nested():
                    await uow.claim_event("savepoints", event_id)
            await uow.commit()
    rates["savepoints"] = count / (time.perf_counter() - started)
    started = time.perf_counter()
    for first in range(0, count, 64):
        rows = [{"consumer": "one", "event_id": uuid.UUID(e)} for e in single[first : first + 64]]
        async with db.unit_of_work("bench") as uow:
            await uow.session.execute(
                pg_insert(processed_events)
                .values(rows)
                .on_conflict_do_nothing()
                .returning(processed_events.c.event_id)
            )
            await uow.commit()
    rates["one_insert"] = count / (time.perf_counter() - started)
    return rates


async def measure(events: int) -> tuple[dict[str, float], float]:
    name = await scratch_database()
    db = Database(f"{postgres_server_url()}/{name}", pool_size=10)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda sync: create_event_tables(_Op(sync)))
        with local_nats() as url:
            haven = await haven_path(db, url, events)
            bare = await nats_loop(url, events, payload=b"x" * envelope_size())
        haven |= await claim_forms(db, max(64, events // 4))
    finally:
        await db.dispose()
        await drop_database(name)
    return haven, bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    configure_logging("bench", "ERROR")
    began = time.monotonic()
    haven, bare = asyncio.run(measure(args.events))
    ratio = haven["together"] / bare
    print(f"machine: {machine()}")
    print(
        f"PostgreSQL at {postgres_server_url()} (scratch database); LocalNats; "
        f"{args.events:,} events of {envelope_size()} bytes; "
        f"{time.monotonic() - began:.0f} s in all"
    )
    print(
        f"Haven outbox -> relay -> JetStream -> consumer (one process): "
        f"{haven['together']:8,.0f} events/s"
    )
    relay_part = haven["relay_part"]
    print(f"   the relay had published the last at a rate of:          {relay_part:8,.0f} events/s")
    print(f"bare nats-py publish-and-consume loop, same server:           {bare:8,.0f} msgs/s")
    print(f"ratio Haven : bare = {ratio:.2f}")
    print(f"goal: at least {GOAL} of the bare loop: {'met' if ratio >= GOAL else 'NOT met'}")
    print(
        f"each stage alone ({args.events // 2:,} events): relay {haven['relay_alone']:,.0f}/s; "
        f"consumer {haven['consumer_alone']:,.0f}/s; consumer with a savepoint for every "
        f"event {haven['savepoints_alone']:,.0f}/s"
    )
    print(
        f"claims in processed_events ({max(64, args.events // 4):,}): one transaction each "
        f"{haven['each']:,.0f}/s; 64 a transaction, a savepoint each "
        f"{haven['savepoints']:,.0f}/s; 64 in one INSERT {haven['one_insert']:,.0f}/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
