"""The record of objects no file row owns, kept so that none is forgotten in the bucket.

See migrations/versions/0002_unclaimed_objects.py for when a key is written
down here and when it leaves.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, update
from sqlalchemy.dialects.postgresql import insert

from haven_files.adapters.orm import UnclaimedObjectRow
from haven_runtime.db import Database


class UnclaimedObjects:
    def __init__(self, db: Database):
        self.db = db

    async def record(self, key: str, *, remove_after: datetime) -> None:
        """Before an upload writes `key`: should it never become a file, remove it then."""
        async with self.db.sessions() as session, session.begin():
            await session.execute(
                insert(UnclaimedObjectRow)
                .values(storage_key=key, remove_after=remove_after)
                .on_conflict_do_nothing()
            )

    async def forget(self, key: str) -> None:
        """Nothing is left under `key` (the refused upload was taken back)."""
        async with self.db.sessions() as session, session.begin():
            await session.execute(
                delete(UnclaimedObjectRow).where(UnclaimedObjectRow.storage_key == key)
            )

    async def remove_soon(self, key: str) -> None:
        """Something may be left under `key`, and no upload is writing it any more."""
        async with self.db.sessions() as session, session.begin():
            await session.execute(
                update(UnclaimedObjectRow)
                .where(UnclaimedObjectRow.storage_key == key)
                .values(remove_after=func.least(UnclaimedObjectRow.remove_after, datetime.now(UTC)))
            )
