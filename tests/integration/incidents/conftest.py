"""The incidents service, running for real: its own database, a NATS server, and identity.

Identity is a small real gRPC server answering GetStaff/ListStaff from a dict
(a test double of the peer, over real gRPC); the end-to-end tests use the real
one. The NATS server is this package's own, so no other service's test that
uses the same durable consumer names can take these events, or these tests
theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import grpc
import nats
import pytest

from haven.files.v1 import files_pb2_grpc
from haven.identity.v1 import identity_pb2_grpc
from haven.incidents.v1 import incidents_pb2_grpc
from haven_devstack.nats import LocalNats
from haven_devstack.ports import free_port
from haven_incidents.app import build_service
from haven_incidents.settings import IncidentsSettings
from haven_runtime.bus import ensure_stream

from .incidents_harness import FilesDouble, IdentityDouble, Incidents


@pytest.fixture(scope="session")
def incidents_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNats]:
    server = LocalNats(Path(tmp_path_factory.mktemp("incidents-nats")), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def identity_double() -> AsyncIterator[tuple[IdentityDouble, int]]:
    double = IdentityDouble()
    server = grpc.aio.server()
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(double, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield double, port
    finally:
        await server.stop(0)


@pytest.fixture(scope="session")
async def files_double() -> AsyncIterator[tuple[FilesDouble, int]]:
    double = FilesDouble()
    server = grpc.aio.server()
    files_pb2_grpc.add_FilesServiceServicer_to_server(double, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield double, port
    finally:
        await server.stop(0)


@pytest.fixture(scope="session")
async def incidents(
    create_database,  # type: ignore[no-untyped-def]
    incidents_nats: LocalNats,
    identity_double: tuple[IdentityDouble, int],
    files_double: tuple[FilesDouble, int],
    token_public_key: str,
    make_token: Callable[..., str],
) -> AsyncIterator[Incidents]:
    database_url = await create_database("incidents")
    double, identity_port = identity_double
    files, files_port = files_double
    settings = IncidentsSettings(
        database_url=database_url,
        nats_url=incidents_nats.url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        token_public_key=token_public_key,
        migrate_on_start=True,
        identity_addr=f"127.0.0.1:{identity_port}",
        identity_timeout_seconds=2.0,
        files_addr=f"127.0.0.1:{files_port}",
        files_timeout_seconds=2.0,
        shutdown_grace_seconds=1.0,
    )
    service, register = build_service(settings)
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(register, ready))
    await asyncio.wait_for(ready.wait(), timeout=60)
    await asyncio.wait_for(service.bus.ready.wait(), timeout=30)

    nc = await nats.connect(incidents_nats.url)
    js = nc.jetstream()
    await ensure_stream(js)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}")
    try:
        yield Incidents(
            stub=incidents_pb2_grpc.IncidentsServiceStub(channel),
            identity=double,
            files=files,
            js=js,
            database_url=database_url,
            make_token=make_token,
        )
    finally:
        await channel.close()
        await nc.close()
        service.stopping.set()
        await asyncio.wait_for(task, timeout=30)
