"""Alembic migrations per service, applied by `haven migrate <service>` or at start.

Each service keeps its migrations in `haven_<service>/migrations/`; its env.py
calls `run_env()`. Several replicas starting at once take a PostgreSQL advisory
lock, so only one migrates and the others wait and find nothing to do.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from haven_runtime.db import sqlalchemy_url

MIGRATION_LOCK_ID = 0x4A5EE1  # any constant; one lock per database


def alembic_config(migrations_dir: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.attributes["database_url"] = database_url
    return config


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    """Apply migrations synchronously (its own event loop; call from a thread if one runs)."""
    command.upgrade(alembic_config(migrations_dir, database_url), revision)


async def upgrade_async(migrations_dir: Path, database_url: str) -> None:
    await asyncio.to_thread(upgrade, migrations_dir, database_url)


def run_env(context, target_metadata=None) -> None:  # type: ignore[no-untyped-def]
    """The body of every service's env.py (online mode only: we always have a server)."""
    url = context.config.attributes.get("database_url")
    if not url:
        raise RuntimeError("no database URL: run migrations through `haven migrate`")

    def do_run(connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        # The lock belongs to the session; end the implicit transaction so that
        # Alembic opens and commits its own before the lock is released.
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            connection.commit()

    async def main() -> None:
        engine = create_async_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(main())
