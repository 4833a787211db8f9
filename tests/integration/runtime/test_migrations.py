"""Migrations are safe when several replicas start at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg

HERE = Path(__file__).parent


async def test_replicas_migrating_one_fresh_database_at_once_all_succeed(create_database):  # type: ignore[no-untyped-def]
    url = await create_database("migrate")
    code = (
        "import sys; from haven_runtime.migrations import upgrade; "
        f"upgrade(__import__('pathlib').Path({str(HERE / 'migrations')!r}), sys.argv[1])"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = await asyncio.gather(*(asyncio.to_thread(p.communicate, None, 60) for p in processes))
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == "0001"
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        await conn.close()
