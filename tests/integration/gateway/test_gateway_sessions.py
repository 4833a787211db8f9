"""Login answers and sessions: one refusal for every kind of wrong, sessions end at once.

The gateway keeps no cache of sessions or roles: every request asks identity,
so whatever identity has ended is refused on the very next request.
"""

from __future__ import annotations

from .gateway_doubles import STRONG_PASSWORD

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


async def login(client, email: str = "alice@school.org", agent: str = FIREFOX) -> dict:
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": STRONG_PASSWORD},
        headers={"User-Agent": agent},
    )
    assert response.status_code == 200, response.text
    return response.json()


def bearer(session: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['token']}"}


async def test_login_passes_the_user_agent_as_client_and_the_client_address(client, doubles):
    await login(client)
    [(request, _, _)] = doubles.record.of("Login")
    assert (request.client, request.client_address) == (FIREFOX, "127.0.0.1")


async def test_a_very_long_user_agent_is_cut_to_200_characters_not_refused(client, doubles):
    await login(client, agent="A" * 5000)
    [(request, _, _)] = doubles.record.of("Login")
    assert request.client == "A" * 200


async def test_login_answers_the_same_for_unknown_email_wrong_password_and_a_locked_account(
    client,
):
    answers = [
        await client.post("/api/v1/auth/login", json={"email": email, "password": password})
        for email, password in [
            ("who@nowhere.org", STRONG_PASSWORD),
            ("alice@school.org", "the wrong password"),
            # The double refuses it as 403 account_locked; the client must not learn that.
            ("locked@school.org", STRONG_PASSWORD),
        ]
    ]
    assert {a.status_code for a in answers} == {401}
    assert answers[0].json()["code"] == "invalid_credentials"
    assert answers[0].content == answers[1].content == answers[2].content
    assert all("set-cookie" not in a.headers for a in answers)


async def test_too_many_login_attempts_is_429_too_many_attempts_with_retry_after(client):
    response = await client.post(
        "/api/v1/auth/login", json={"email": "throttled@school.org", "password": "whatever"}
    )
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    assert response.headers["retry-after"] == "120"


async def test_a_user_lists_their_sessions_with_the_current_one_marked(client):
    laptop = await login(client, agent=FIREFOX)
    await login(client, agent="Haven iOS/1.0")
    response = await client.get("/api/v1/auth/sessions", headers=bearer(laptop))
    assert response.status_code == 200
    items = response.json()["items"]
    assert {i["client"] for i in items} >= {FIREFOX, "Haven iOS/1.0"}
    [current] = [i for i in items if i["current"]]
    assert current["client"] == FIREFOX
    for item in items:
        assert {"id", "created_at", "last_seen_at", "client", "current"} <= set(item)
        assert item["created_at"].endswith("+00:00")
    assert response.json()["next_cursor"] is None


async def test_a_revoked_session_is_refused_on_the_very_next_request_as_the_gateway_caches_none(
    client, doubles
):
    laptop, phone = await login(client), await login(client, agent="Haven iOS/1.0")
    assert (await client.get("/api/v1/me", headers=bearer(phone))).status_code == 200
    sessions = (await client.get("/api/v1/auth/sessions", headers=bearer(laptop))).json()["items"]
    [phone_id] = [s["id"] for s in sessions if s["client"] == "Haven iOS/1.0"]
    ended = await client.delete(f"/api/v1/auth/sessions/{phone_id}", headers=bearer(laptop))
    assert ended.status_code == 204
    refused = await client.get("/api/v1/me", headers=bearer(phone))
    assert (refused.status_code, refused.json()["code"]) == (401, "unauthenticated")
    assert (await client.get("/api/v1/me", headers=bearer(laptop))).status_code == 200


async def test_logout_is_refused_on_the_very_next_request_as_the_gateway_caches_none(client):
    session = await login(client)
    assert (await client.get("/api/v1/me", headers=bearer(session))).status_code == 200
    out = await client.post("/api/v1/auth/logout", headers=bearer(session))
    assert out.status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(session))).status_code == 401


async def test_ending_an_unknown_session_or_someone_elses_is_404(client):
    bobs = await login(client, email="bob@school.org")
    bob_sessions = (await client.get("/api/v1/auth/sessions", headers=bearer(bobs))).json()
    alice = {"Authorization": "Bearer session-alice"}
    for session_id in ("no-such-session", bob_sessions["items"][0]["id"]):
        response = await client.delete(f"/api/v1/auth/sessions/{session_id}", headers=alice)
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert (await client.get("/api/v1/me", headers=bearer(bobs))).status_code == 200


async def test_ending_the_current_session_clears_the_cookie(client):
    session = await login(client)
    sessions = (await client.get("/api/v1/auth/sessions")).json()["items"]
    [current] = [s for s in sessions if s["current"]]
    response = await client.delete(
        f"/api/v1/auth/sessions/{current['id']}", headers={"X-CSRF-Token": session["csrf_token"]}
    )
    assert response.status_code == 204
    assert 'haven_session=""' in response.headers["set-cookie"]


async def test_a_cookie_session_cannot_end_a_session_without_its_csrf_token(client, doubles):
    await login(client)
    response = await client.delete("/api/v1/auth/sessions/anything")
    assert (response.status_code, response.json()["code"]) == (403, "csrf_failed")
    assert doubles.record.of("RevokeSession") == []
