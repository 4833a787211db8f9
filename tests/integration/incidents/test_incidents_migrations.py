"""Migration 0003 applies to a database in use, and steps back only when nothing is lost."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from alembic import command

import haven_incidents
from haven_runtime.migrations import alembic_config, upgrade

MIGRATIONS = Path(haven_incidents.__file__).parent / "migrations"


async def migrate(url: str, revision: str, *, down: bool = False) -> None:
    def run() -> None:
        if down:
            command.downgrade(alembic_config(MIGRATIONS, url), revision)
        else:
            upgrade(MIGRATIONS, url, revision)

    await asyncio.to_thread(run)


async def test_0003_keeps_earlier_views_and_steps_back_only_while_nothing_would_be_lost(
    create_database,  # type: ignore[no-untyped-def]
) -> None:
    url = await create_database("incidents")
    await migrate(url, "0002")
    conn = await asyncpg.connect(url)
    try:
        student = uuid.uuid4()
        await conn.execute(
            "INSERT INTO students (id, school_id, upn, first_name, last_name, year_group,"
            " date_of_birth, search_first, search_last) VALUES"
            " ($1, 's', 'A000000000001', 'Zoë', 'Smith', '5', '2015-03-01', 'zoe', 'smith')",
            student,
        )
        await conn.execute(
            "INSERT INTO incident_views (id, student_id, user_id, user_name, action)"
            " VALUES ($1, $2, 'u', 'Dee Lead', 'chronology_viewed')",
            uuid.uuid4(),
            student,
        )
        await migrate(url, "head")
        (row,) = await conn.fetch("SELECT user_name, client_address FROM incident_views")
        assert (row["user_name"], row["client_address"]) == ("Dee Lead", None)

        # Nothing 0003 added is in use yet: stepping back and forth works.
        await migrate(url, "0002", down=True)
        await migrate(url, "head")

        await conn.execute(
            "INSERT INTO incident_views (id, student_id, user_id, user_name, action,"
            " client_address) VALUES ($1, $2, 'u', 'Dee Lead', 'chronology_viewed', '192.0.2.1')",
            uuid.uuid4(),
            student,
        )
        with pytest.raises(RuntimeError, match="refusing"):
            await migrate(url, "0002", down=True)
        assert len(await conn.fetch("SELECT 1 FROM incident_views")) == 2
    finally:
        await conn.close()
