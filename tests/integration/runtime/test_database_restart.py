"""After PostgreSQL restarts, the first request of a service succeeds.

Pooled connections die with the server. The pool does not ping on every
checkout (that is three round trips); it discards a connection that asyncpg
already knows the server closed and opens another, so nobody sees the restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from haven_devstack.ports import free_port
from haven_devstack.postgres import LocalPostgres
from haven_runtime.db import Database


async def test_the_first_query_after_a_restart_succeeds_on_a_pooled_connection(
    tmp_path: Path,
) -> None:
    server = LocalPostgres(tmp_path / "pg", free_port())
    server.start()
    database = Database(server.database_url("postgres"), pool_size=2)
    try:

        async def backend_pids() -> set[int]:
            # Two sessions at once, so that both pooled connections exist.
            async def one() -> int:
                async with database.sessions() as session:
                    pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                    await asyncio.sleep(0.05)
                    return int(pid)

            return set(await asyncio.gather(one(), one()))

        before = await backend_pids()
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(server.start)
        await asyncio.sleep(0.2)  # a service's loop goes on between requests

        after = await backend_pids()  # no exception: each connection was replaced
        assert before.isdisjoint(after)
        rows = await database.fetch("SELECT 1 AS one")  # the plain asyncpg pool too
        assert rows[0]["one"] == 1
    finally:
        await database.dispose()
        server.stop()
