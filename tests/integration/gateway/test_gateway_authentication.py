"""Sessions, CSRF and identity at the gateway, against real gRPC doubles of the services."""

from __future__ import annotations

from .gateway_doubles import SCHOOL, STRONG_PASSWORD

ALICE = {"Authorization": "Bearer session-alice"}


async def test_a_cookie_authenticated_post_without_the_csrf_token_is_refused(client, doubles):
    client.cookies.set("haven_session", "session-alice")
    response = await client.post("/api/v1/alerts/al-1/read")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "csrf_failed"
    assert doubles.record.of("MarkAlertRead") == []


async def test_a_cookie_authenticated_post_with_another_sessions_csrf_token_is_refused(client):
    client.cookies.set("haven_session", "session-alice")
    response = await client.post("/api/v1/alerts/al-1/read", headers={"X-CSRF-Token": "csrf-bob"})
    assert (response.status_code, response.json()["code"]) == (403, "csrf_failed")


async def test_a_cookie_authenticated_post_with_its_csrf_token_goes_through(client, doubles):
    client.cookies.set("haven_session", "session-alice")
    response = await client.post("/api/v1/alerts/al-1/read", headers={"X-CSRF-Token": "csrf-alice"})
    assert response.status_code == 204
    assert len(doubles.record.of("MarkAlertRead")) == 1


async def test_a_cookie_authenticated_get_needs_no_csrf_token(client):
    client.cookies.set("haven_session", "session-alice")
    response = await client.get("/api/v1/me")
    assert (response.status_code, response.json()["id"]) == (200, "u-alice")


async def test_a_bearer_authenticated_post_needs_no_csrf_token(client, doubles):
    response = await client.post("/api/v1/alerts/al-1/read", headers=ALICE)
    assert response.status_code == 204
    assert [c for _, _, c in doubles.record.of("MarkAlertRead")] == ["u-alice"]


async def test_a_client_sent_identity_header_is_not_trusted(client):
    forged = {"X-Haven-User-Id": "u-alice", "X-User-Id": "u-alice", "X-User-Roles": "dsl"}
    response = await client.get("/api/v1/me", headers=forged)
    assert (response.status_code, response.json()["code"]) == (401, "unauthenticated")


async def test_services_see_only_the_verified_caller_never_the_clients_headers(client, doubles):
    forged = {"X-Haven-User-Id": "u-bob", "X-User-Id": "u-bob", "X-Remote-User": "u-bob"}
    response = await client.get("/api/v1/categories", headers=ALICE | forged)
    assert response.status_code == 200
    [(_, metadata, caller)] = doubles.record.of("ListCategories")
    assert caller == "u-alice"
    assert not any(k.startswith(("x-haven-", "x-user-", "x-remote-")) for k in metadata)
    # The service gets identity's internal token, not the client's session token.
    assert metadata["authorization"].startswith("Bearer ey")
    assert "session-alice" not in metadata["authorization"]


async def test_an_unknown_session_is_a_401(client):
    response = await client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
    assert (response.status_code, response.json()["code"]) == (401, "unauthenticated")


async def test_login_answers_the_tokens_and_user_and_sets_a_strict_session_cookie(client):
    response = await client.post(
        "/api/v1/auth/login", json={"email": "alice@school.org", "password": STRONG_PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token"].startswith("session-") and body["csrf_token"]
    assert body["expires_at"] == "2030-01-01T08:00:00+00:00"
    assert body["user"]["memberships"][0]["school_id"] == SCHOOL
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"haven_session={body['token']};")
    for attribute in (
        "HttpOnly",
        "Path=/",
        "SameSite=lax",
        "expires=Tue, 01 Jan 2030 08:00:00 GMT",
    ):
        assert attribute.lower() in cookie.lower()
    # HAVEN_ENV defaults to development, where cookies are not Secure.
    assert "secure" not in cookie.lower()
    assert response.headers["cache-control"] == "no-store"


async def test_the_session_cookie_is_secure_outside_development(doubles):
    import httpx

    from haven_gateway.app import create_app

    from .gateway_doubles import settings_for

    app = create_app(settings_for(doubles.address, env="production"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://gw") as client:
            response = await client.post(
                "/api/v1/auth/login",
                json={"email": "alice@school.org", "password": STRONG_PASSWORD},
            )
    assert "secure" in response.headers["set-cookie"].lower()


async def test_a_wrong_password_is_401_invalid_credentials_and_sets_no_cookie(client):
    response = await client.post(
        "/api/v1/auth/login", json={"email": "alice@school.org", "password": "wrong"}
    )
    assert (response.status_code, response.json()["code"]) == (401, "invalid_credentials")
    assert "set-cookie" not in response.headers


async def test_logout_ends_the_session_and_clears_the_cookie(client, doubles):
    login = await client.post(
        "/api/v1/auth/login", json={"email": "alice@school.org", "password": STRONG_PASSWORD}
    )
    csrf = login.json()["csrf_token"]
    response = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204
    assert 'haven_session=""' in response.headers["set-cookie"]
    [(request, _, caller)] = doubles.record.of("Logout")
    assert request.session_token == login.json()["token"] and caller == "u-alice"
    after = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {request.session_token}"}
    )
    assert after.status_code == 401


async def test_the_request_id_is_answered_and_forwarded_to_the_services(client, doubles):
    response = await client.get("/api/v1/me", headers=ALICE | {"X-Request-ID": "trace-42"})
    assert response.headers["x-request-id"] == "trace-42"
    [(_, metadata, _)] = doubles.record.of("Authenticate")
    assert metadata["x-request-id"] == "trace-42"


async def test_a_request_without_a_request_id_gets_one(client, doubles):
    response = await client.get("/api/v1/me", headers=ALICE)
    made = response.headers["x-request-id"]
    assert len(made) == 36
    [(_, metadata, _)] = doubles.record.of("Authenticate")
    assert metadata["x-request-id"] == made
