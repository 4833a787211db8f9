"""Real servers for the tests: PostgreSQL, NATS JetStream, SeaweedFS S3, an SMTP sink.

Each starts once per test session on a free port under a temporary folder (or,
for PostgreSQL, the server named by HAVEN_POSTGRES_URL). Tests that stop or kill
a server start their own with the same classes.
"""

from __future__ import annotations

import os

# Tests start servers with fork+exec while gRPC's threads run in this process;
# gRPC's fork handlers then abort the child before it reaches exec. The servers
# never use gRPC between fork and exec, so the handlers are not needed.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from haven_devstack.nats import LocalNats
from haven_devstack.ports import free_port
from haven_devstack.postgres import LocalPostgres
from haven_runtime.auth import Principal, TokenSigner, generate_signing_key, public_key_pem


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server (no database part)."""
    external = os.environ.get("HAVEN_POSTGRES_URL")
    if external:
        yield external.rstrip("/")
        return
    server = LocalPostgres(tmp_path_factory.mktemp("pg"), free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNats]:
    server = LocalNats(tmp_path_factory.mktemp("nats"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: LocalNats) -> str:
    return nats_server.url


@pytest.fixture(scope="session")
def create_database(postgres_url: str) -> Callable[[str], str]:
    """Return a factory: create_database("incidents") -> URL of a new, empty database."""

    async def create(prefix: str) -> str:
        name = f"test_{prefix}_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(postgres_url + "/postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return f"{postgres_url}/{name}"

    return create  # type: ignore[return-value]


@pytest.fixture(scope="session")
def signing_key():  # type: ignore[no-untyped-def]
    return generate_signing_key()


@pytest.fixture(scope="session")
def token_public_key(signing_key) -> str:  # type: ignore[no-untyped-def]
    return public_key_pem(signing_key)


@pytest.fixture(scope="session")
def make_token(signing_key) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    """Sign an internal token for a test principal: make_token(user_id, {school_id: role})."""
    signer = TokenSigner(signing_key)

    def make(user_id: str | None = None, schools: dict[str, str] | None = None, **extra) -> str:  # type: ignore[no-untyped-def]
        principal = Principal(
            user_id=user_id or str(uuid.uuid4()),
            session_id=str(uuid.uuid4()),
            name=extra.pop("name", "Test User"),
            email=extra.pop("email", "test.user@example.org"),
            schools=schools or {},
            **extra,
        )
        return signer.sign(principal)

    return make


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path
