"""The clean-up job: staged files never attached, and objects no file owns.

Every replica runs it; they never do the same work twice. Each round:

1. Staged files older than HAVEN_STAGED_FILE_TTL_HOURS are deleted, a batch
   at a time, by one statement that takes the rows `FOR UPDATE SKIP LOCKED`
   (a row another replica, or an incident attaching it, holds is skipped),
   deletes them and writes their keys down as unclaimed objects, due now. An
   attachment that commits first wins: the row is no longer staged.
2. Unclaimed objects that are due (an expired file's, a refused or broken
   upload's, one whose upload died) are taken `FOR UPDATE SKIP LOCKED`,
   removed from S3 (unfinished multipart uploads aborted too), and their
   records deleted in the same transaction. If S3 fails, the transaction
   rolls back and the next round tries again; removing twice is harmless.

Nothing runs while S3 has not answered since start; a round that fails is
logged and the job carries on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, text

from haven_files.adapters.object_store import ObjectStore
from haven_files.adapters.orm import UnclaimedObjectRow
from haven_runtime.db import Database
from haven_runtime.logging import get_logger
from haven_runtime.wakeup import wait_any

log = get_logger(__name__)

EXPIRE_STAGED = text(
    """
    WITH expired AS (
        DELETE FROM files
        WHERE id IN (
            SELECT id FROM files
            WHERE status = 'staged' AND created_at < :cutoff
            ORDER BY created_at
            LIMIT :batch
            FOR UPDATE SKIP LOCKED
        )
        RETURNING id, storage_key
    ), unclaimed AS (
        INSERT INTO unclaimed_objects (storage_key, remove_after)
        SELECT storage_key, now() FROM expired
        ON CONFLICT (storage_key) DO UPDATE SET remove_after = now()
    )
    SELECT id FROM expired
    """
)


@dataclass(frozen=True)
class Swept:
    expired_files: int
    removed_objects: int


class FileJanitor:
    def __init__(
        self,
        db: Database,
        store: ObjectStore,
        *,
        staged_ttl: timedelta,
        interval_seconds: float,
        batch_size: int = 100,
    ):
        self.db = db
        self.store = store
        self.staged_ttl = staged_ttl
        self.interval_seconds = interval_seconds
        self.batch_size = batch_size
        # What this replica has done since start (the others count their own).
        self.expired_total = 0
        self.removed_total = 0

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            if self.store.ready.is_set():
                try:
                    await self.sweep()
                except Exception as error:  # noqa: BLE001 - the job must outlive any outage
                    log.warning("file clean-up failed; will try again", error=str(error))
            await wait_any(stopping, timeout=self.interval_seconds)

    async def sweep(self) -> Swept:
        """One round: expire old staged files, then remove every object that is due."""
        expired = await self.expire_staged_files()
        removed = await self.remove_unclaimed_objects()
        if expired or removed:
            log.info("file clean-up", expired_staged_files=expired, removed_objects=removed)
        return Swept(expired, removed)

    async def expire_staged_files(self) -> int:
        cutoff = datetime.now(UTC) - self.staged_ttl
        total = 0
        while True:
            async with self.db.sessions() as session, session.begin():
                ids = (
                    await session.scalars(
                        EXPIRE_STAGED, {"cutoff": cutoff, "batch": self.batch_size}
                    )
                ).all()
            total += len(ids)
            self.expired_total += len(ids)
            if len(ids) < self.batch_size:
                return total

    async def remove_unclaimed_objects(self) -> int:
        total = 0
        while True:
            async with self.db.sessions() as session, session.begin():
                keys = (
                    await session.scalars(
                        select(UnclaimedObjectRow.storage_key)
                        .where(UnclaimedObjectRow.remove_after <= datetime.now(UTC))
                        .order_by(UnclaimedObjectRow.remove_after)
                        .limit(self.batch_size)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
                for key in keys:
                    await self.store.discard(key)
                if keys:
                    await session.execute(
                        delete(UnclaimedObjectRow).where(UnclaimedObjectRow.storage_key.in_(keys))
                    )
            total += len(keys)
            self.removed_total += len(keys)
            if len(keys) < self.batch_size:
                return total
