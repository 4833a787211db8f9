"""A gateway process with every place for a request waiting on the services taken answers
the next such request 503 `overloaded` at once; what waits on nobody is never refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY

from haven_gateway.app import create_app
from haven_gateway.settings import GatewaySettings

from .gateway_doubles import settings_for

ALICE = {"Authorization": "Bearer session-alice"}
BOB = {"Authorization": "Bearer session-bob"}


@pytest.fixture
def gateway_settings(doubles) -> GatewaySettings:  # type: ignore[no-untyped-def]
    """One place: the `client` fixture's gateway refuses a second request waiting on a service."""
    return settings_for(doubles.address, max_requests_in_flight=1)


async def test_a_request_finding_every_place_taken_is_refused_before_it_asks_anything(
    client, doubles
) -> None:  # type: ignore[no-untyped-def]
    doubles.identity.hold = asyncio.Event()
    waiting = asyncio.ensure_future(client.get("/api/v1/me", headers=ALICE))
    while not doubles.record.of("Authenticate"):
        await asyncio.sleep(0.01)

    refused = await client.get("/api/v1/me", headers={**BOB, "X-Request-ID": "req-7"})
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-request-id"] == "req-7"
    assert refused.json()["code"] == "overloaded"
    assert len(doubles.record.of("Authenticate")) == 1  # Bob's was never asked
    # What needs no service is answered all the same: the probe, the web pages.
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/login")).status_code == 200

    doubles.identity.hold.set()
    assert (await waiting).status_code == 200
    # The place is free again.
    assert (await client.get("/api/v1/me", headers=BOB)).json()["id"] == "u-bob"


async def test_a_client_trickling_a_body_holds_no_place(client, doubles) -> None:  # type: ignore[no-untyped-def]
    """FastAPI reads a body before it authenticates anyone: a place taken on arrival
    would let a few hundred slow anonymous connections lock everyone out."""
    rest_of_bodies = [asyncio.Event() for _ in range(3)]

    async def trickle(rest: asyncio.Event) -> AsyncIterator[bytes]:
        yield b'{"email": "alice@school.org", '
        await rest.wait()
        yield b'"password": "wrong"}'

    slow = [
        asyncio.ensure_future(
            client.post(
                "/api/v1/auth/login",
                content=trickle(rest),
                headers={"Content-Type": "application/json"},
            )
        )
        for rest in rest_of_bodies
    ]
    await asyncio.sleep(0.2)
    assert not any(task.done() for task in slow)
    assert (await client.get("/api/v1/me", headers=BOB)).status_code == 200
    # Each, once its body is in, takes the place to ask identity, and gives it back.
    for rest, task in zip(rest_of_bodies, slow, strict=True):
        rest.set()
        assert (await task).status_code == 401


async def test_every_refusal_is_counted_even_of_requests_sharing_one_question(doubles) -> None:  # type: ignore[no-untyped-def]
    """Requests for one session share one question to identity (the auth cache); refused,
    each is a request shed, and the metric the alert reads counts each."""
    app = create_app(
        settings_for(doubles.address, max_requests_in_flight=1, auth_cache_seconds=1.0)
    )
    shed_before = REGISTRY.get_sample_value("haven_http_requests_shed_total") or 0.0
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            doubles.identity.hold = asyncio.Event()
            waiting = asyncio.ensure_future(client.get("/api/v1/me", headers=ALICE))
            while not doubles.record.of("Authenticate"):
                await asyncio.sleep(0.01)
            refused = await asyncio.gather(
                *(client.get("/api/v1/me", headers=BOB) for _ in range(3))
            )
            assert [r.json()["code"] for r in refused] == ["overloaded"] * 3
            doubles.identity.hold.set()
            assert (await waiting).status_code == 200
    shed = REGISTRY.get_sample_value("haven_http_requests_shed_total") or 0.0
    assert shed - shed_before == 3
