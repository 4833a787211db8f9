"""The connection to NATS JetStream, kept alive for the life of the process.

A service starts and serves even while NATS is away: the outbox holds its
events and the relay and consumers wait here until the bus is back.
"""

from __future__ import annotations

import asyncio

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from haven_runtime.backoff import backoff_delay
from haven_runtime.events import STREAM, STREAM_SUBJECTS
from haven_runtime.logging import get_logger

log = get_logger(__name__)


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the events stream if it is missing (every service may; it is idempotent)."""
    config = StreamConfig(
        name=STREAM,
        subjects=STREAM_SUBJECTS,
        storage=StorageType.FILE,
        duplicate_window=120.0,
        max_age=30 * 24 * 3600.0,
    )
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(config)


class EventBus:
    def __init__(self, url: str, name: str):
        self.url = url
        self.name = name
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.ready = asyncio.Event()

    async def connect(self, stopping: asyncio.Event) -> None:
        """Connect, retrying with backoff until connected or the process stops."""
        attempt = 0
        while not stopping.is_set():
            try:
                # With unlimited reconnects nats-py keeps retrying even the first
                # connection, so race it against the stop signal.
                connecting = asyncio.create_task(self._open())
                stop_wait = asyncio.create_task(stopping.wait())
                done, _ = await asyncio.wait(
                    {connecting, stop_wait}, timeout=10, return_when=asyncio.FIRST_COMPLETED
                )
                stop_wait.cancel()
                if connecting not in done:
                    connecting.cancel()
                    if stopping.is_set():
                        return
                    raise TimeoutError("no answer from NATS")
                nc = connecting.result()
                js = nc.jetstream(timeout=5)
                await ensure_stream(js)
                self.nc, self.js = nc, js
                self.ready.set()
                log.info("bus connected", url=self.url)
                return
            except Exception as error:  # noqa: BLE001 - any failure means "try again later"
                attempt += 1
                delay = backoff_delay(attempt, cap=5.0)
                log.warning("bus unavailable, retrying", error=str(error), retry_in=round(delay, 2))
                try:
                    await asyncio.wait_for(stopping.wait(), timeout=delay)
                except TimeoutError:
                    pass

    async def _open(self) -> Client:
        return await nats.connect(
            servers=[self.url],
            name=self.name,
            connect_timeout=2,
            reconnect_time_wait=0.5,
            max_reconnect_attempts=-1,
            allow_reconnect=True,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            try:
                await asyncio.wait_for(self.nc.drain(), timeout=5)
            except Exception:  # noqa: BLE001 - closing anyway
                await self.nc.close()

    async def _on_error(self, error: Exception) -> None:
        log.warning("bus error", error=str(error) or type(error).__name__)

    async def _on_disconnected(self) -> None:
        log.warning("bus disconnected")

    async def _on_reconnected(self) -> None:
        log.info("bus reconnected")
