"""Durable JetStream pull consumers that handle each event once.

A message is acknowledged only after the handler's transaction has committed,
and that transaction also records the event id (`processed_events`), so a
redelivery after a crash between commit and ack changes nothing. A handler that
fails leaves nothing behind; the message is redelivered after a growing delay,
up to `max_deliver` times. A failure while the service's database is
unreachable is not the event's fault and does not count: the consumer keeps
the message (telling JetStream it is in progress) until the database answers
again and then handles it afresh, so an outage of any length loses nothing.
Replicas of a service share the durable consumer, so each message goes to one
of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import nats.errors
import structlog
from google.protobuf.message import Message
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from haven.events.v1.envelope_pb2 import EventEnvelope
from haven_runtime import tracing
from haven_runtime.backoff import backoff_delay
from haven_runtime.bus import EventBus
from haven_runtime.db import Database, UnitOfWork
from haven_runtime.events import STREAM, Event, open_envelope, subject_for
from haven_runtime.logging import get_logger

log = get_logger(__name__)

Handler = Callable[[UnitOfWork, Event[Any]], Awaitable[None]]


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
                    for msg in messages:
                        await self.handle(msg)
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

    async def handle(self, msg: Any) -> None:
        envelope = EventEnvelope.FromString(msg.data)
        entry = self.handlers.get(envelope.type)
        delivered = msg.metadata.num_delivered if msg.metadata else 1
        # The trace of the request that caused the event: NATS headers, else the envelope.
        carrier = {**envelope.trace_context, **(msg.headers or {})}
        with (
            structlog.contextvars.bound_contextvars(
                request_id=envelope.event_id, event_type=envelope.type, consumer=self.durable
            ),
            tracing.span(envelope.type, carrier, kind=tracing.CONSUMER),
        ):
            if entry is None:
                await msg.ack()
                return
            payload_type, handler = entry
            while True:
                try:
                    event = open_envelope(envelope, payload_type)
                    async with self.db.unit_of_work(self.service) as uow:
                        if await uow.claim_event(self.durable, event.event_id):
                            await handler(uow, event)
                        else:
                            log.info("event already handled")
                        await uow.commit()
                    break
                except Exception as error:  # noqa: BLE001 - any failure means redeliver later
                    if await self._held_through_outage(msg, error):
                        if self._stopping.is_set():
                            await msg.nak()  # another replica, or the next start, takes it
                            return
                        continue
                    await self._retry_later(msg, delivered, error)
                    return
            await msg.ack()

    async def _held_through_outage(self, msg: Any, error: Exception) -> bool:
        """If the database is unreachable, keep the message until it answers; True if so."""
        if await self._database_answers():
            return False
        log.warning(
            "database unreachable; holding the event until it answers",
            error=str(error) or type(error).__name__,
        )
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
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
                log.info("database answers again; handling the event", attempts=attempt)
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
