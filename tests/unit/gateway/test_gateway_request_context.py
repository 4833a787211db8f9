"""Headers that claim an identity never get past the gateway's front door; request ids do."""

from __future__ import annotations

import httpx
import pytest

from haven_gateway.request_context import (
    RequestContextMiddleware,
    is_identity_header,
    request_id_from,
    strip_identity_headers,
)
from haven_runtime import context as ctx


@pytest.mark.parametrize(
    "name",
    [
        "X-Haven-User-Id",
        "x-haven-roles",
        "X-User-Id",
        "x-user-email",
        "X-Remote-User",
        "Remote-User",
        "X-Forwarded-User",
        "X-Internal-Token",
        "X-Auth-Request-User",
    ],
)
def test_headers_that_could_carry_an_identity_are_recognised(name):
    assert is_identity_header(name)


@pytest.mark.parametrize(
    "name", ["Authorization", "Cookie", "X-CSRF-Token", "X-Request-ID", "Idempotency-Key"]
)
def test_ordinary_headers_are_kept(name):
    assert not is_identity_header(name)


def test_stripping_keeps_everything_else_in_order():
    headers = [
        (b"accept", b"*/*"),
        (b"x-haven-user-id", b"u1"),
        (b"x-user-role", b"dsl"),
        (b"cookie", b"a=b"),
    ]
    kept, dropped = strip_identity_headers(headers)
    assert kept == [(b"accept", b"*/*"), (b"cookie", b"a=b")]
    assert dropped == ["x-haven-user-id", "x-user-role"]


def test_a_client_request_id_is_taken_only_when_it_is_safe():
    assert request_id_from([(b"x-request-id", b"abc-123")]) == "abc-123"
    made = request_id_from([(b"x-request-id", b"evil\r\ninjected")])
    assert made != "evil\r\ninjected" and len(made) == 36
    assert len(request_id_from([])) == 36


async def test_the_app_behind_the_middleware_never_sees_an_identity_header():
    seen: dict = {}

    async def app(scope, receive, send):
        seen["headers"] = {k.decode(): v.decode() for k, v in scope["headers"]}
        seen["request_id"] = ctx.request_id.get()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    transport = httpx.ASGITransport(app=RequestContextMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.get(
            "/",
            headers={
                "X-Haven-User-Id": "someone-else",
                "X-User-Roles": "dsl",
                "X-Request-ID": "req-1",
            },
        )
    assert response.headers["x-request-id"] == "req-1"
    assert response.headers["cache-control"] == "no-store"
    assert not any(is_identity_header(name) for name in seen["headers"])
    assert seen["request_id"] == "req-1"


async def test_an_unexpected_error_is_a_problem_json_500_with_the_request_id():
    async def app(scope, receive, send):
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=RequestContextMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        response = await client.get("/", headers={"X-Request-ID": "req-2"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal_error"
    assert "boom" not in response.text
    assert response.headers["x-request-id"] == "req-2"
