"""Waking a background worker when PostgreSQL says there is work, instead of polling.

A worker keeps one LISTEN connection; a trigger's NOTIFY (delivered only when
the inserting transaction commits) sets `event`. Workers still wake on a slow
timer as a safety net, for notifications missed while reconnecting.
"""

from __future__ import annotations

import asyncio

import asyncpg


class PgWakeup:
    def __init__(self, dsn: str, channel: str):
        self.dsn = dsn
        self.channel = channel
        self.event = asyncio.Event()
        self._connection: asyncpg.Connection | None = None

    async def listen(self) -> None:
        """Make sure the LISTEN connection is up (again, after a database restart)."""
        if self._connection is not None and not self._connection.is_closed():
            return
        self._connection = await asyncpg.connect(self.dsn)
        await self._connection.add_listener(self.channel, self._on_notify)

    def _on_notify(self, *_: object) -> None:
        self.event.set()

    async def close(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.close(timeout=2)
            except Exception:  # noqa: BLE001 - it may already be gone
                self._connection.terminate()
            self._connection = None


async def wait_any(*events: asyncio.Event, timeout: float | None = None) -> None:
    """Return when any event is set, or after `timeout` seconds."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
