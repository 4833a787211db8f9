"""The outbox relay: publishes committed events to JetStream, each exactly once.

It takes pending rows `FOR UPDATE SKIP LOCKED` (so several replicas share the
work without publishing a row twice at the same time), publishes each with
`Nats-Msg-Id` set to the event id (so the stream drops a repeat after a crash
between publish and mark), and marks only the rows JetStream acknowledged.
It sleeps on PostgreSQL LISTEN until a commit inserts new rows, with a slow
poll as a safety net, and backs off while NATS is away.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select, update

from haven.events.v1.envelope_pb2 import EventEnvelope
from haven_runtime.backoff import backoff_delay
from haven_runtime.bus import EventBus
from haven_runtime.db import Database
from haven_runtime.logging import get_logger
from haven_runtime.outbox_tables import NOTIFY_CHANNEL, outbox
from haven_runtime.wakeup import PgWakeup, wait_any

log = get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        batch_size: int = 200,
        safety_poll_seconds: float = 5.0,
        publish_timeout: float = 5.0,
    ):
        self.db = db
        self.bus = bus
        self.batch_size = batch_size
        self.safety_poll_seconds = safety_poll_seconds
        self.publish_timeout = publish_timeout
        self._wakeup = PgWakeup(db.url, NOTIFY_CHANNEL)

    async def run(self, stopping: asyncio.Event) -> None:
        failures = 0
        while not stopping.is_set():
            if not self.bus.ready.is_set():
                await wait_any(self.bus.ready, stopping)
                continue
            try:
                await self._wakeup.listen()
                self._wakeup.event.clear()
                published = await self.publish_batch()
                failures = 0
                if published >= self.batch_size:
                    continue  # more may be waiting; no need to sleep
                await wait_any(self._wakeup.event, stopping, timeout=self.safety_poll_seconds)
            except Exception as error:  # noqa: BLE001 - the relay must outlive any outage
                failures += 1
                delay = backoff_delay(failures, cap=10.0)
                log.warning(
                    "outbox relay retrying",
                    error=str(error) or type(error).__name__,
                    retry_in=round(delay, 2),
                )
                await self._wakeup.close()
                await wait_any(stopping, timeout=delay)
        await self._wakeup.close()

    async def publish_batch(self) -> int:
        """Publish one batch of pending events; returns how many JetStream acknowledged."""
        js = self.bus.js
        assert js is not None
        async with self.db.engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(outbox.c.id, outbox.c.subject, outbox.c.envelope)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.created_at)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            results = await asyncio.gather(
                *(
                    js.publish(
                        row.subject,
                        row.envelope,
                        timeout=self.publish_timeout,
                        # The event's id, and the trace of the request that caused it.
                        headers={
                            "Nats-Msg-Id": str(row.id),
                            **EventEnvelope.FromString(row.envelope).trace_context,
                        },
                    )
                    for row in rows
                ),
                return_exceptions=True,
            )
            acked = [
                row.id
                for row, result in zip(rows, results, strict=True)
                if not isinstance(result, BaseException)
            ]
            failed = [
                (row.id, result)
                for row, result in zip(rows, results, strict=True)
                if isinstance(result, BaseException)
            ]
            if acked:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(acked))
                    .values(published_at=datetime.now(UTC), attempts=outbox.c.attempts + 1)
                )
            for row_id, error in failed:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == row_id)
                    .values(
                        attempts=outbox.c.attempts + 1,
                        last_error=(str(error) or type(error).__name__)[:500],
                    )
                )
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(rows)} events not acknowledged by JetStream")
        return len(acked)
