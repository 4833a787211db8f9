"""Database access: one async engine per process and a unit of work per change.

The unit of work is the only way a handler writes: it owns the transaction, and
the events a handler raises go into the outbox table inside that same
transaction, so an event exists if and only if the change it reports does.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import asyncpg
from google.protobuf.message import Message
from sqlalchemy import event, exc, insert, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from haven_runtime.events import envelope_for, subject_for
from haven_runtime.outbox_tables import outbox, processed_events


def sqlalchemy_url(url: str) -> str:
    """Accept plain postgresql:// URLs (as operators write them) and pick the async driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("database URL must start with postgresql://")


def libpq_url(url: str) -> str:
    """The same URL without the SQLAlchemy driver suffix, for asyncpg itself."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False):
        self.url = libpq_url(url)
        # No pool_pre_ping: with asyncpg it is a BEGIN, a query and a ROLLBACK
        # on every checkout (a tenth of each service's CPU under load). A
        # connection the server closed (a restart, a failover) is known without
        # asking: asyncpg sees the socket close; such a one is replaced on checkout.
        self.engine: AsyncEngine = create_async_engine(
            sqlalchemy_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            echo=echo,
        )
        event.listen(self.engine.sync_engine, "checkout", _replace_if_closed)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Sessions that only read: each statement on its own (no BEGIN before
        # and no ROLLBACK after, two round trips saved), so several reads are
        # not one snapshot. For checks before a write, never for a write.
        self.read_sessions = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )
        self._reads_size = max(1, pool_size // 2)
        self._reads: asyncpg.Pool | None = None
        self._reads_opening = asyncio.Lock()

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Run one read-only statement on a plain asyncpg pool, for the hottest reads.

        The statement is prepared once per connection (asyncpg's cache) and a
        connection is lent without the engine's pre-ping round trip or the
        pool's reset on return: a lone SELECT leaves no session state behind.
        A connection the server closed is noticed by asyncpg and replaced on
        the next acquire, so a database restart costs at most the call in flight.
        """
        if self._reads is None:
            async with self._reads_opening:
                if self._reads is None:
                    self._reads = await asyncpg.create_pool(
                        self.url, min_size=1, max_size=self._reads_size, reset=_keep_session
                    )
        async with self._reads.acquire() as conn:
            return await conn.fetch(sql, *args)

    def unit_of_work(self, producer: str = "") -> UnitOfWork:
        return UnitOfWork(self.sessions, producer)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._reads is not None:
            await self._reads.close()
            self._reads = None
        await self.engine.dispose()


def _replace_if_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool checkout hook: a connection the server has closed is discarded and
    another one opened (SQLAlchemy's documented way: raise DisconnectionError)."""
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("the database closed this connection")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Return a connection to the read pool as it is (see Database.fetch)."""


class UnitOfWork:
    """A transaction, plus the events to publish if and only if it commits.

    Use as `async with db.unit_of_work("incidents") as uow: ...; await uow.commit()`.
    Leaving the block without commit rolls back, events included.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], producer: str):
        self._sessions = sessions
        self.producer = producer
        self._pending: list[dict[str, Any]] = []
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        await self.session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.session.in_transaction():
                await self.session.rollback()
        finally:
            await self.session.close()

    def publish(self, payload: Message, *, event_id: uuid.UUID | None = None) -> uuid.UUID:
        """Queue an event; it is written to the outbox in this transaction."""
        event_id = event_id or uuid.uuid4()
        now = datetime.now(UTC)
        envelope = envelope_for(payload, event_id=event_id, producer=self.producer, at=now)
        self._pending.append(
            {
                "id": event_id,
                "subject": subject_for(payload.DESCRIPTOR.full_name),
                "event_type": payload.DESCRIPTOR.full_name,
                "envelope": envelope.SerializeToString(),
                "created_at": now,
            }
        )
        return event_id

    async def claim_event(self, consumer: str, event_id: str) -> bool:
        """Record that `consumer` handles `event_id`; False if it already did.

        The row is written in this transaction, so a handler that fails leaves
        no trace and the redelivered event is handled afresh.
        """
        result = await self.session.execute(
            pg_insert(processed_events)
            .values(consumer=consumer, event_id=uuid.UUID(event_id))
            .on_conflict_do_nothing()
            .returning(processed_events.c.event_id)
        )
        return result.first() is not None

    async def flush_events(self) -> None:
        if self._pending:
            await self.session.execute(insert(outbox), self._pending)
            self._pending = []

    async def commit(self) -> None:
        await self.flush_events()
        await self.session.commit()

    async def rollback(self) -> None:
        self._pending = []
        await self.session.rollback()
