"""Fixtures: the gateway in-process (httpx ASGI transport) in front of real gRPC doubles."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from haven.files.v1 import files_pb2_grpc
from haven.identity.v1 import identity_pb2_grpc
from haven.incidents.v1 import incidents_pb2_grpc
from haven.notifications.v1 import notifications_pb2_grpc
from haven_gateway.app import create_app
from haven_gateway.settings import GatewaySettings
from haven_runtime.auth import TokenSigner, TokenVerifier, load_public_key
from haven_runtime.interceptors import ServiceInterceptor

from .gateway_doubles import (
    Doubles,
    Files,
    Identity,
    Incidents,
    Notifications,
    Record,
    settings_for,
)


@pytest.fixture
async def doubles(signing_key, token_public_key) -> AsyncIterator[Doubles]:
    record = Record()
    verifier = TokenVerifier(load_public_key(token_public_key))
    server = grpc.aio.server(interceptors=[ServiceInterceptor(verifier)])
    found = Doubles(
        address="",
        record=record,
        identity=Identity(TokenSigner(signing_key), record),
        incidents=Incidents(record),
        notifications=Notifications(record),
        files=Files(record),
        health=health.aio.HealthServicer(),
    )
    identity_pb2_grpc.add_IdentityServiceServicer_to_server(found.identity, server)
    incidents_pb2_grpc.add_IncidentsServiceServicer_to_server(found.incidents, server)
    notifications_pb2_grpc.add_NotificationsServiceServicer_to_server(found.notifications, server)
    files_pb2_grpc.add_FilesServiceServicer_to_server(found.files, server)
    health_pb2_grpc.add_HealthServicer_to_server(found.health, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await found.health.set("", health_pb2.HealthCheckResponse.SERVING)
    found.address = f"127.0.0.1:{port}"
    try:
        yield found
    finally:
        await server.stop(0)


@pytest.fixture
def gateway_settings(doubles: Doubles) -> GatewaySettings:
    return settings_for(doubles.address, max_upload_bytes=1024 * 1024)


@pytest.fixture
async def client(gateway_settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client
