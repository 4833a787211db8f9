"""A request takes one place among those waiting on the services at its first call, gives
it back when it ends (however it ends), and finding none free is refused with 503
`overloaded` before the call is made."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from haven_gateway.admission import Admission
from haven_gateway.app import create_app
from haven_gateway.problems import Problem
from haven_gateway.request_context import RequestContextMiddleware
from haven_gateway.settings import GatewaySettings


class CallingApp:
    """An ASGI app standing for the gateway's routes: /call/N makes N service calls
    (each first admitted) and then waits until released; /boom fails after its call."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.release = asyncio.Event()
        self.calling = 0

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        try:
            for _ in range(int(scope["path"].rsplit("/", 1)[-1] or 1)):
                self.admission.admit()
        except Problem as problem:
            await problem.response()(scope, receive, send)
            return
        if scope["path"].startswith("/boom"):
            raise RuntimeError("boom")
        self.calling += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def started(app: CallingApp, count: int) -> None:
    for _ in range(400):
        if app.calling >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"only {app.calling} of {count} requests got as far as their calls")


async def holding(app: CallingApp, client: httpx.AsyncClient, count: int, path: str) -> list:  # type: ignore[type-arg]
    """`count` requests to `path`, each waiting in the app once its calls are made."""
    held = [asyncio.ensure_future(client.get(path)) for _ in range(count)]
    await started(app, count)
    return held


def client_for(admission: Admission) -> tuple[CallingApp, httpx.AsyncClient]:
    app = CallingApp(admission)
    transport = httpx.ASGITransport(app=RequestContextMiddleware(app, admission=admission))
    return app, httpx.AsyncClient(transport=transport, base_url="http://gw")


async def test_one_place_per_request_however_many_calls_it_makes() -> None:
    admission = Admission(2)
    app, client = client_for(admission)
    async with client:
        held = await holding(app, client, 2, "/call/3")
        assert admission.holding == 2
        refused = await client.get("/call/1")
        assert (refused.status_code, refused.json()["code"]) == (503, "overloaded")
        assert refused.headers["retry-after"] == "1"
        app.release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert admission.holding == 0


async def test_a_request_that_failed_gives_its_place_back() -> None:
    admission = Admission(1)
    app, client = client_for(admission)
    app.release.set()
    async with client:
        for _ in range(3):
            assert (await client.get("/boom/1")).status_code == 500
        assert admission.holding == 0
        assert (await client.get("/call/1")).status_code == 200


async def test_no_limit_when_it_is_zero() -> None:
    admission = Admission(0)
    app, client = client_for(admission)
    async with client:
        held = await holding(app, client, 50, "/call/1")
        app.release.set()
        assert {r.status_code for r in await asyncio.gather(*held)} == {200}


def test_outside_a_request_nothing_is_counted() -> None:
    admission = Admission(1)
    admission.admit()
    admission.admit()
    assert admission.holding == 0


def test_the_gateway_takes_the_limit_from_its_settings() -> None:
    assert GatewaySettings().max_requests_in_flight == 128
    app = create_app(GatewaySettings(max_requests_in_flight=7))
    assert app.state.admission.limit == 7
    [ours] = [m for m in app.user_middleware if m.cls is RequestContextMiddleware]
    assert ours.kwargs["admission"] is app.state.admission


async def test_a_client_slow_to_read_its_answer_holds_no_place() -> None:
    """Its calls are done once its answer starts (a download streams at the client's pace)."""
    admission = Admission(1)
    reading = asyncio.Event()

    async def downloading(scope, receive, send):  # type: ignore[no-untyped-def]
        admission.admit()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await reading.wait()  # the client reads the rest slowly
        await send({"type": "http.response.body", "body": b"rest"})

    middleware = RequestContextMiddleware(downloading, admission=admission)
    sent: list[dict] = []

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": b""}

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/api/v1/files/f-1/content", "headers": []}
    download = asyncio.ensure_future(middleware(scope, receive, send))
    for _ in range(100):
        if len(sent) >= 2:
            break
        await asyncio.sleep(0.005)
    assert admission.holding == 0  # answering, not waiting on a service
    reading.set()
    await download
    assert admission.holding == 0


async def test_an_upload_is_refused_when_full_but_holds_no_place_while_its_body_arrives() -> None:
    admission = Admission(1)
    place, token = admission.begin()
    admission.admit()  # it asked identity first
    assert admission.holding == 1
    admission.for_transfer()  # then its body starts: the place is given back
    assert (admission.holding, place.taken) == (0, False)
    admission.end(place, token)
    assert admission.holding == 0

    other, other_token = admission.begin()
    admission.admit()  # another request waits on a service
    upload, upload_token = admission.begin()
    with pytest.raises(Problem) as refused:
        admission.for_transfer()
    assert (refused.value.status, refused.value.code) == (503, "overloaded")
    admission.end(upload, upload_token)
    admission.end(other, other_token)
    assert admission.holding == 0
