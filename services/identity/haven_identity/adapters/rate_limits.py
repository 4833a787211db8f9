"""Fixed-window rate limits kept in PostgreSQL, so every replica counts the same hits.

A bucket ("reset:address:192.0.2.1") holds the hits of its current window. One
INSERT ... ON CONFLICT DO UPDATE takes a hit only while the window has room (or
starts a new window once the old one is over), so concurrent requests can never
take more hits than the limit between them: PostgreSQL locks the row and
re-checks the condition for each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from haven_identity.adapters.orm import RateLimit

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Hit:
    allowed: bool
    retry_after: int = 0  # seconds until the window ends, when not allowed


async def take_hit(session: AsyncSession, bucket: str, limit: int, window: timedelta = HOUR) -> Hit:
    """Count one hit in `bucket`, unless the window already holds `limit` of them."""
    # In ON CONFLICT DO UPDATE, the table's columns are the existing row's.
    window_over = RateLimit.window_started_at <= func.now() - window
    statement = (
        pg_insert(RateLimit)
        .values(bucket=bucket, window_started_at=func.now(), hits=1)
        .on_conflict_do_update(
            index_elements=[RateLimit.bucket],
            set_={
                "hits": case((window_over, 1), else_=RateLimit.hits + 1),
                "window_started_at": case(
                    (window_over, func.now()), else_=RateLimit.window_started_at
                ),
            },
            where=window_over | (RateLimit.hits < limit),
        )
        .returning(RateLimit.hits)
    )
    if (await session.execute(statement)).first() is not None:
        return Hit(allowed=True)
    remaining = await session.scalar(
        select(func.extract("epoch", RateLimit.window_started_at + window - func.now())).where(
            RateLimit.bucket == bucket
        )
    )
    return Hit(allowed=False, retry_after=max(1, math.ceil(float(remaining or 1))))


async def give_back_hit(session: AsyncSession, bucket: str, window: timedelta = HOUR) -> None:
    """Undo a hit taken for an attempt that turned out not to count (a successful login)."""
    await session.execute(
        update(RateLimit)
        .where(
            RateLimit.bucket == bucket,
            RateLimit.hits > 0,
            RateLimit.window_started_at > func.now() - window,
        )
        .values(hits=RateLimit.hits - 1)
        .execution_options(synchronize_session=False)
    )


async def forget_finished_windows(session: AsyncSession, window: timedelta = HOUR) -> int:
    result = await session.execute(
        delete(RateLimit)
        .where(RateLimit.window_started_at <= func.now() - window)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
