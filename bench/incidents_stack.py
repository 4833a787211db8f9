"""What the incidents benchmarks share: a database, the real service in-process, and timing.

PostgreSQL is HAVEN_POSTGRES_URL's when set (a fresh database, dropped at the
end unless HAVEN_BENCH_KEEP_DATABASE is set, to look into it), else a
LocalPostgres in a temporary folder. The service is built with build_service
and run on a free port as the integration tests do; NATS is a
real local server, because the service starts its event bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import Executable

import haven_incidents
from haven.identity.v1.identity_pb2 import SchoolCreated
from haven.incidents.v1 import incidents_pb2_grpc
from haven_devstack.nats import LocalNats
from haven_devstack.ports import free_port
from haven_devstack.postgres import LocalPostgres
from haven_incidents.app import build_service
from haven_incidents.service_layer.schools import on_school_created
from haven_incidents.settings import IncidentsSettings
from haven_runtime.auth import Principal, TokenSigner, generate_signing_key, public_key_pem
from haven_runtime.db import Database
from haven_runtime.events import Event
from haven_runtime.logging import configure_logging
from haven_runtime.migrations import upgrade_async

WARM_UP = 20


@contextlib.asynccontextmanager
async def incidents_database(prefix: str) -> AsyncIterator[str]:
    """URL of a new, migrated incidents database."""
    with tempfile.TemporaryDirectory(prefix="haven-bench-") as scratch:
        external = os.environ.get("HAVEN_POSTGRES_URL", "").rstrip("/")
        local = None
        if not external:
            local = LocalPostgres(Path(scratch) / "pg", free_port())
            local.start()
        server = external or local.url  # type: ignore[union-attr]
        name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(server + "/postgres")
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        url = f"{server}/{name}"
        try:
            await upgrade_async(Path(haven_incidents.__file__).parent / "migrations", url)
            yield url
        finally:
            if os.environ.get("HAVEN_BENCH_KEEP_DATABASE") and external:
                print(f"kept {url}", file=sys.stderr)
            else:
                conn = await asyncpg.connect(server + "/postgres")
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await conn.close()
            if local is not None:
                local.stop()


async def record_school(db: Database, school_id: str, name: str) -> None:
    """As the service does when identity announces a school (with default categories)."""
    async with db.unit_of_work("incidents") as uow:
        await on_school_created(
            uow,
            Event(
                event_id=str(uuid.uuid4()),
                type=SchoolCreated.DESCRIPTOR.full_name,
                producer="identity",
                occurred_at=datetime.now(UTC),
                payload=SchoolCreated(school_id=school_id, trust_id="bench-trust", name=name),
            ),
        )
        await uow.commit()


@dataclass
class RunningIncidents:
    stub: incidents_pb2_grpc.IncidentsServiceStub
    signer: TokenSigner

    def metadata(self, principal: Principal) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer " + self.signer.sign(principal)),)


@contextlib.asynccontextmanager
async def running_incidents(database_url: str) -> AsyncIterator[RunningIncidents]:
    configure_logging("incidents", "WARNING")
    key = generate_signing_key()
    with tempfile.TemporaryDirectory(prefix="haven-bench-nats-") as scratch:
        nats = LocalNats(Path(scratch), free_port())
        nats.start()
        settings = IncidentsSettings(
            database_url=database_url,
            nats_url=nats.url,
            grpc_host="127.0.0.1",
            grpc_port=0,
            token_public_key=public_key_pem(key),
            migrate_on_start=False,
            log_level="WARNING",
            shutdown_grace_seconds=1.0,
        )
        service, register = build_service(settings)
        ready = asyncio.Event()
        task = asyncio.create_task(service.run(register, ready))
        await asyncio.wait_for(ready.wait(), timeout=60)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}")
        try:
            # Tokens live long enough for the whole run; the service verifies each call.
            yield RunningIncidents(
                incidents_pb2_grpc.IncidentsServiceStub(channel), TokenSigner(key, lifetime=3600)
            )
        finally:
            await channel.close()
            service.stopping.set()
            await asyncio.wait_for(task, timeout=30)
            nats.stop()


def as_asyncpg(statement: Executable) -> tuple[str, list[Any]]:
    """The statement as SQLAlchemy's asyncpg dialect sends it: $n placeholders and values."""
    compiled = statement.compile(
        dialect=postgresql.asyncpg.dialect(),  # type: ignore[attr-defined]
        compile_kwargs={"render_postcompile": True},
    )
    params = compiled.construct_params()
    order = compiled.positiontup or []
    return compiled.string, [params[name] for name in order]


async def time_calls(calls: list[Callable[[], Awaitable[object]]]) -> list[float]:
    """Seconds per call, one at a time, after a few warm-up calls that are not kept."""
    for call in calls[:WARM_UP]:
        await call()
    samples = []
    for call in calls:
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


def indexes_in_plan(plan: Any) -> list[str]:
    """The indexes an EXPLAIN (FORMAT JSON) plan reads, and any table it scans whole."""
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        name = node.get("Index Name")
        if node.get("Node Type", "").endswith("Seq Scan"):
            name = f"SEQ SCAN of {node.get('Relation Name')} ({node.get('Alias')})"
        if name and name not in found:
            found.append(name)
        for child in node.get("Plans", []):
            walk(child)

    document = json.loads(plan) if isinstance(plan, str) else plan
    walk(document[0]["Plan"])
    return found
