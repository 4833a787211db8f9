"""Durable JetStream pull consumers that handle each event once.

Each fetched batch is handled in one database transaction and acknowledged
only after it has committed. The transaction records the batch's event ids
(`processed_events`, one statement for all of them), so an event delivered
twice is handled once and a redelivery after a crash between commit and ack
changes nothing. One commit a batch, rather than one an event, is what lets
the consumer keep up with the relay.

An event whose handler fails leaves nothing behind. The first try runs every
handler of the batch straight in the transaction; if one fails, that
transaction rolls back and the batch is handled again with a savepoint for
each event (its claim and its handler inside it), without the failed event, so
the others commit together and are acked while the failed one is redelivered
after a growing delay, up to `max_deliver` times. (A savepoint for every event
of every batch would cost two more round trips an event, for a failure that
is rare.) A batch that still cannot commit while the database answers (a
constraint checked at commit, say) is handled one event a transaction, so that
only the guilty event waits for its retry.

A failure while the service's database is unreachable is not the events'
fault and does not count: the consumer keeps the batch's messages (telling
JetStream they are in progress) until the database answers again and then
handles them afresh, so an outage of any length loses nothing. Replicas of a
service share the durable consumer, so each message goes to one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import nats.errors
import structlog
from google.protobuf.message import Message
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import Text, Uuid, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from haven.events.v1.envelope_pb2 import EventEnvelope
from haven_runtime import tracing
from haven_runtime.backoff import backoff_delay
from haven_runtime.bus import EventBus
from haven_runtime.db import Database, UnitOfWork
from haven_runtime.events import STREAM, Event, open_envelope, subject_for
from haven_runtime.logging import get_logger
from haven_runtime.outbox_tables import processed_events

log = get_logger(__name__)

Handler = Callable[[UnitOfWork, Event[Any]], Awaitable[None]]

# One statement of one shape for any batch (so it is compiled and prepared
# once): claim every id of the batch, and say which were new.
_CLAIM_ALL = (
    pg_insert(processed_events)
    .from_select(
        ["consumer", "event_id"],
        select(
            bindparam("consumer", type_=Text),
            func.unnest(bindparam("event_ids", type_=ARRAY(Uuid))),
        ),
    )
    .on_conflict_do_nothing()
    .returning(processed_events.c.event_id)
)


@dataclass
class _Delivery:
    """One message of a batch, and what became of it in the batch's transaction."""

    msg: Any
    envelope: EventEnvelope = field(default_factory=EventEnvelope)
    delivered: int = 1
    error: Exception | None = None


class EventConsumer:
    def __init__(
        self,
        *,
        service: str,
        durable: str,
        db: Database,
        bus: EventBus,
        handlers: Mapping[type[Message], Handler],
        max_deliver: int = 20,
        ack_wait_seconds: float = 30.0,
        batch_size: int = 64,
        retry_base_seconds: float = 0.5,
    ):
        self.service = service
        self.durable = durable
        self.db = db
        self.bus = bus
        self.handlers = {t.DESCRIPTOR.full_name: (t, h) for t, h in handlers.items()}
        self.max_deliver = max_deliver
        self.ack_wait_seconds = ack_wait_seconds
        self.batch_size = batch_size
        self.retry_base_seconds = retry_base_seconds
        self.idle = asyncio.Event()
        self.idle.set()
        self._stopping = asyncio.Event()

    @property
    def subjects(self) -> list[str]:
        return sorted(subject_for(name) for name in self.handlers)

    async def _subscribe(self) -> Any:
        js = self.bus.js
        assert js is not None
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            # Unlimited on the server: it would otherwise stop delivering a message
            # silently. The consumer itself gives up (term) after max_deliver
            # failures that were the event's fault, never during an outage.
            max_deliver=-1,
            ack_wait=self.ack_wait_seconds,
            filter_subjects=self.subjects,
            max_ack_pending=1000,
        )
        # Create, or update an existing durable (a new release may handle more
        # event types): JetStream treats a create with the same name as an update.
        await js.add_consumer(STREAM, config)
        return await js.pull_subscribe_bind(self.durable, stream=STREAM)

    async def run(self, stopping: asyncio.Event) -> None:
        self._stopping = stopping
        sub = None
        failures = 0
        while not stopping.is_set():
            try:
                if sub is None:
                    await _wait_until(self.bus.ready, stopping)
                    if stopping.is_set():
                        break
                    sub = await self._subscribe()
                    log.info("consumer subscribed", durable=self.durable, subjects=self.subjects)
                try:
                    messages = await sub.fetch(self.batch_size, timeout=1.0)
                except (nats.errors.TimeoutError, TimeoutError):
                    continue  # nothing to do for now (nats-py raises either kind)
                failures = 0
                self.idle.clear()
                try:
                    await self.handle_batch(messages)
                finally:
                    self.idle.set()
            except Exception as error:  # noqa: BLE001 - keep consuming through outages
                failures += 1
                delay = backoff_delay(failures, cap=5.0)
                log.warning(
                    "consumer retrying",
                    durable=self.durable,
                    error=str(error) or type(error).__name__,
                    retry_in=round(delay, 2),
                )
                sub = None
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=delay)
                except TimeoutError:
                    pass
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception as error:  # noqa: BLE001 - the connection may be gone already
                log.info("consumer unsubscribe skipped", durable=self.durable, error=str(error))

    async def handle_batch(self, messages: list[Any]) -> None:
        """Handle a fetched batch in one transaction; ack what committed, retry what failed."""
        batch: list[_Delivery] = []
        for msg in messages:
            delivery = _Delivery(msg, delivered=msg.metadata.num_delivered if msg.metadata else 1)
            try:
                delivery.envelope = EventEnvelope.FromString(msg.data)
            except Exception as error:  # noqa: BLE001 - a message that is no envelope
                with self._event_context(delivery):
                    await self._retry_later(msg, delivery.delivered, error)
                continue
            if delivery.envelope.type not in self.handlers:
                await msg.ack()  # an event this consumer has no use for
                continue
            batch.append(delivery)
        if len(batch) == 1:
            await self._handle_alone(batch[0])  # nothing to share a transaction with
            return
        while batch:
            try:
                if not await self._handle_together(batch, savepoints=False):
                    log.warning(
                        "an event of the batch failed; handling the others again, a savepoint each",
                        events=len(batch),
                    )
                    await self._handle_together(batch, savepoints=True)
                break
            except Exception as error:  # noqa: BLE001 - the transaction as a whole failed
                if await self._held_through_outage([d.msg for d in batch], error):
                    if self._stopping.is_set():
                        for delivery in batch:
                            await delivery.msg.nak()  # another replica, or the next start
                        return
                    for delivery in batch:
                        delivery.error = None
                    continue  # handle the whole batch afresh
                # The database answers, yet the batch could not commit (a
                # constraint checked at commit, say): one transaction an event
                # finds the event at fault and lets the others through.
                log.warning(
                    "batch failed to commit; handling its events one at a time",
                    error=str(error) or type(error).__name__,
                    events=len(batch),
                )
                for delivery in batch:
                    await self._handle_alone(delivery)
                return
        for delivery in batch:  # after the commit, never before
            if delivery.error is None:
                await delivery.msg.ack()
        for delivery in batch:
            if delivery.error is not None:
                with self._event_context(delivery):
                    await self._retry_later(delivery.msg, delivery.delivered, delivery.error)

    async def _handle_together(self, batch: list[_Delivery], *, savepoints: bool) -> bool:
        """Handle the batch's events in one transaction; True if it committed.

        Without savepoints (the first try) every event id is claimed in one
        statement and the handlers run one after another; the first handler
        that fails is noted in its delivery and the whole transaction rolls
        back (False), to be tried again with savepoints. With a savepoint for
        each event, its claim and its handler run in it, and a handler that
        fails rolls back its own savepoint only; an event that failed before
        is skipped. A failure while the database does not answer is raised at
        once; one that took the transaction with it all the same (the database
        restarted) makes the next statement or the commit raise. Either way
        nothing is acked.
        """
        async with self.db.unit_of_work(self.service) as uow:
            claimed = None if savepoints else await self._claim_all(uow, batch)
            for delivery in batch:
                if delivery.error is not None:
                    continue
                with self._event_context(delivery):
                    try:
                        if savepoints:
                            async with uow.session.begin_nested():
                                await self._handle_in(uow, delivery, claimed)
                        else:
                            await self._handle_in(uow, delivery, claimed)
                    except Exception as error:  # noqa: BLE001 - this event is retried later
                        if not await self._database_answers():
                            raise  # not the event's fault: the whole batch waits
                        delivery.error = error
                        if not savepoints:
                            return False  # leaving the unit of work rolls it all back
            await uow.commit()
        return True

    async def _claim_all(self, uow: UnitOfWork, batch: list[_Delivery]) -> set[uuid.UUID]:
        """Record the batch's event ids as handled, in one statement; returns the new ones."""
        ids: set[uuid.UUID] = set()
        for delivery in batch:
            try:
                ids.add(uuid.UUID(delivery.envelope.event_id))
            except ValueError as error:
                # No id, so no way to tell a repeat: retried, then dropped.
                delivery.error = error
        if not ids:
            return set()
        result = await uow.session.execute(
            # In one order everywhere: two replicas claiming overlapping
            # batches (redeliveries) then wait for each other, never deadlock.
            _CLAIM_ALL,
            {"consumer": self.durable, "event_ids": sorted(ids)},
        )
        return set(result.scalars())

    async def _handle_in(
        self, uow: UnitOfWork, delivery: _Delivery, claimed: set[uuid.UUID] | None
    ) -> None:
        """One event in the batch's transaction: claim it (unless claimed already) and handle it."""
        payload_type, handler = self.handlers[delivery.envelope.type]
        event = open_envelope(delivery.envelope, payload_type)
        # Its own unit of work in the batch's session, so the events a failed
        # handler raised are dropped with it.
        event_uow = self.db.unit_of_work(self.service)
        event_uow.session = uow.session
        if claimed is None:
            new = await event_uow.claim_event(self.durable, event.event_id)
        else:
            event_id = uuid.UUID(event.event_id)
            new = event_id in claimed
            claimed.discard(event_id)  # the same event twice in a batch: handled once
        if not new:
            log.info("event already handled")
            return
        await handler(event_uow, event)
        await event_uow.flush_events()
        # Write what the handler changed now, so that a failure is its own.
        await uow.session.flush()

    async def _handle_alone(self, delivery: _Delivery) -> None:
        """Handle one parsed message of a type this consumer knows, in a transaction of its own."""
        msg = delivery.msg
        payload_type, handler = self.handlers[delivery.envelope.type]
        with self._event_context(delivery):
            while True:
                try:
                    event = open_envelope(delivery.envelope, payload_type)
                    async with self.db.unit_of_work(self.service) as uow:
                        if await uow.claim_event(self.durable, event.event_id):
                            await handler(uow, event)
                        else:
                            log.info("event already handled")
                        await uow.commit()
                    break
                except Exception as error:  # noqa: BLE001 - any failure means redeliver later
                    if await self._held_through_outage([msg], error):
                        if self._stopping.is_set():
                            await msg.nak()  # another replica, or the next start, takes it
                            return
                        continue
                    await self._retry_later(msg, delivery.delivered, error)
                    return
            await msg.ack()

    @contextlib.contextmanager
    def _event_context(self, delivery: _Delivery) -> Iterator[None]:
        """The event's id on every log line, and the trace of the request that caused it."""
        envelope = delivery.envelope
        # NATS headers first, else the envelope.
        carrier = {**envelope.trace_context, **(delivery.msg.headers or {})}
        with (
            structlog.contextvars.bound_contextvars(
                request_id=envelope.event_id, event_type=envelope.type, consumer=self.durable
            ),
            tracing.span(envelope.type or "unreadable event", carrier, kind=tracing.CONSUMER),
        ):
            yield

    async def _held_through_outage(self, messages: list[Any], error: Exception) -> bool:
        """If the database is unreachable, keep the messages until it answers; True if so."""
        if await self._database_answers():
            return False
        log.warning(
            "database unreachable; holding the events until it answers",
            error=str(error) or type(error).__name__,
            events=len(messages),
        )
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            for msg in messages:
                try:
                    await msg.in_progress()  # restarts JetStream's ack wait: no redelivery
                except Exception as nats_error:  # noqa: BLE001 - NATS may be away too
                    log.info("in-progress not sent", error=str(nats_error))
            delay = min(backoff_delay(attempt, cap=5.0), self.ack_wait_seconds / 3)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            except TimeoutError:
                pass
            if await self._database_answers():
                log.info("database answers again; handling the events", attempts=attempt)
                return True
        return True

    async def _database_answers(self) -> bool:
        try:
            await asyncio.wait_for(self.db.ping(), timeout=5.0)
        except Exception:  # noqa: BLE001 - any failure to answer means it is away
            return False
        return True

    async def _retry_later(self, msg: Any, delivered: int, error: Exception) -> None:
        if delivered >= self.max_deliver:
            log.error(
                "event abandoned after repeated failures",
                delivered=delivered,
                error=str(error) or type(error).__name__,
            )
            await msg.term()
            return
        delay = backoff_delay(delivered, base=self.retry_base_seconds, cap=60.0)
        log.warning(
            "event handler failed, will retry",
            delivered=delivered,
            error=str(error) or type(error).__name__,
            retry_in=round(delay, 2),
        )
        await msg.nak(delay=delay)


async def _wait_until(event: asyncio.Event, stopping: asyncio.Event) -> None:
    waiters = [asyncio.create_task(event.wait()), asyncio.create_task(stopping.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
