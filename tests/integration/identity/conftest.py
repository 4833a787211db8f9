"""A real identity service (real PostgreSQL, real NATS) started in-process for these tests."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
import pytest

from haven.identity.v1.identity_pb2_grpc import IdentityServiceStub
from haven_identity.app import build_service
from haven_identity.settings import IdentitySettings
from haven_runtime.auth import private_key_pem
from haven_runtime.server import Service

PUBLIC_URL = "https://haven.example.org"
SECRET_KEY = "test-secret-key-" + "k" * 32
TOTP_ENCRYPTION_KEY = base64.b64encode(b"t" * 32).decode()


@dataclass
class RunningIdentity:
    service: Service
    settings: IdentitySettings
    stub: IdentityServiceStub
    database_url: str


def identity_settings(
    database_url: str, nats_url: str, public_key: str, signing_key, **overrides
) -> IdentitySettings:  # type: ignore[no-untyped-def]
    """Settings for a test instance; `overrides` change any of them (small limits, say)."""
    return IdentitySettings(
        database_url=database_url,
        nats_url=nats_url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        token_public_key=public_key,
        token_signing_key=private_key_pem(signing_key),
        secret_key=SECRET_KEY,
        public_url=PUBLIC_URL + "/",
        totp_encryption_key=TOTP_ENCRYPTION_KEY,
        migrate_on_start=True,
        shutdown_grace_seconds=2,
        **overrides,
    )


async def start_identity(settings: IdentitySettings) -> tuple[Service, asyncio.Task[None]]:
    service, register = build_service(settings)
    ready = asyncio.Event()
    task = asyncio.create_task(service.run(register, ready))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    if waiter not in done:
        waiter.cancel()
        if task.done():
            task.result()  # raises the reason it failed to start
        raise RuntimeError("identity did not start in time")
    return service, task


async def stop_identity(service: Service, task: asyncio.Task[None]) -> None:
    service.stopping.set()
    await asyncio.wait_for(task, timeout=30)


@pytest.fixture(scope="module")
async def identity(
    create_database, nats_url, token_public_key, signing_key
) -> AsyncIterator[RunningIdentity]:  # type: ignore[no-untyped-def]
    database_url = await create_database("identity")
    settings = identity_settings(database_url, nats_url, token_public_key, signing_key)
    service, task = await start_identity(settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.bound_port}")
    try:
        yield RunningIdentity(service, settings, IdentityServiceStub(channel), database_url)
    finally:
        await channel.close()
        await stop_identity(service, task)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """unique("Oak Trust") -> "Oak Trust 3f9a1c": names that no other test uses."""
    return lambda prefix: f"{prefix} {uuid.uuid4().hex[:6]}"
