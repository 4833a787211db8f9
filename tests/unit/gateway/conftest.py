"""The gateway in process, with no service behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from haven_gateway.app import create_app
from haven_gateway.settings import GatewaySettings

# Nothing listens here: the answers these tests look at need no service.
NOWHERE = "127.0.0.1:9"


@asynccontextmanager
async def gateway_without_services(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        GatewaySettings(
            identity_addr=NOWHERE,
            incidents_addr=NOWHERE,
            notifications_addr=NOWHERE,
            files_addr=NOWHERE,
            **settings,
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client
