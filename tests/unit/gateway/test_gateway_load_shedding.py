"""A gateway process working on as many requests as it may answers one more with 503
`overloaded` at once, rather than queueing it; the probes always pass."""

from __future__ import annotations

import asyncio

import httpx

from haven_gateway.app import create_app
from haven_gateway.request_context import RequestContextMiddleware
from haven_gateway.settings import GatewaySettings


class HeldApp:
    """An ASGI app whose requests wait until released (a slow service), except /boom."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["path"] == "/boom":
            raise RuntimeError("boom")
        self.started += 1
        if scope["path"] not in ("/healthz", "/readyz"):
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def started(app: HeldApp, count: int) -> None:
    for _ in range(200):
        if app.started >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"only {app.started} of {count} requests reached the app")


async def test_one_request_more_than_the_limit_is_refused_at_once_and_the_rest_go_on() -> None:
    app = HeldApp()
    middleware = RequestContextMiddleware(app, max_in_flight=2)
    transport = httpx.ASGITransport(app=middleware)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        held = [asyncio.ensure_future(client.get(f"/api/v1/me?n={n}")) for n in range(2)]
        await started(app, 2)

        refused = await client.post(
            "/api/v1/incidents", json={"summary": "x"}, headers={"X-Request-ID": "req-9"}
        )
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["x-request-id"] == "req-9"
        assert refused.json()["code"] == "overloaded"
        assert app.started == 2  # never reached the app

        # Kubernetes' probes are answered all the same.
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200

        app.release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert middleware.in_flight == 0
        assert (await client.get("/api/v1/me")).status_code == 200


async def test_a_request_that_failed_gives_its_place_back() -> None:
    app = HeldApp()
    app.release.set()
    middleware = RequestContextMiddleware(app, max_in_flight=1)
    transport = httpx.ASGITransport(app=middleware)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        for _ in range(3):
            assert (await client.get("/boom")).status_code == 500
        assert middleware.in_flight == 0
        assert (await client.get("/api/v1/me")).status_code == 200


async def test_no_limit_when_it_is_zero() -> None:
    app = HeldApp()
    transport = httpx.ASGITransport(app=RequestContextMiddleware(app, max_in_flight=0))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        held = [asyncio.ensure_future(client.get("/api/v1/me")) for _ in range(50)]
        await started(app, 50)
        app.release.set()
        assert {r.status_code for r in await asyncio.gather(*held)} == {200}


def test_the_gateway_limits_its_requests_in_flight_unless_told_not_to() -> None:
    assert GatewaySettings().max_requests_in_flight == 256
    assert GatewaySettings(max_requests_in_flight=0).max_requests_in_flight == 0


def test_the_gateway_app_takes_the_limit_from_its_settings() -> None:
    app = create_app(GatewaySettings(max_requests_in_flight=7))
    [ours] = [m for m in app.user_middleware if m.cls is RequestContextMiddleware]
    assert ours.kwargs["max_in_flight"] == 7
