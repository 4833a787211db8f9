from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from haven_runtime.bus import EventBus
from haven_runtime.db import Database
from haven_runtime.migrations import upgrade_async

MIGRATIONS = Path(__file__).parent / "migrations"


@pytest.fixture
async def database(create_database) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    url = await create_database("runtime")
    await upgrade_async(MIGRATIONS, url)
    db = Database(url, pool_size=4)
    yield db
    await db.dispose()


async def connected_bus(url: str) -> EventBus:
    bus = EventBus(url, name="haven-test")
    await bus.connect(asyncio.Event())
    return bus
