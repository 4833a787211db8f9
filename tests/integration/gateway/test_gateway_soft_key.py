"""The soft key and elevation at the gateway, against real gRPC doubles of the services."""

from __future__ import annotations

from datetime import datetime

from .gateway_doubles import STRONG_PASSWORD
from .identity_security_double import GOOD_CODE, THROTTLED_CODE

ALICE = {"Authorization": "Bearer session-alice"}  # enrolled
BOB = {"Authorization": "Bearer session-bob"}  # no soft key yet


def is_rfc3339_with_offset(value: str) -> bool:
    return datetime.fromisoformat(value).utcoffset() is not None


async def test_soft_key_setup_needs_the_password_and_answers_the_secret_uri_and_qr_svg(
    client, doubles
):
    response = await client.post(
        "/api/v1/auth/totp/setup", headers=BOB, json={"password": STRONG_PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
    assert body["otpauth_uri"].startswith("otpauth://totp/Haven:bob@school.org")
    assert body["qr_svg"].startswith("<svg")
    [(request, _, caller)] = doubles.record.of("SetupTotp")
    assert (request.password, request.client_address, caller) == (
        STRONG_PASSWORD,
        "127.0.0.1",
        "u-bob",
    )


async def test_soft_key_setup_with_a_wrong_password_is_401_and_the_session_lives_on(client):
    response = await client.post(
        "/api/v1/auth/totp/setup", headers=BOB, json={"password": "not my password at all"}
    )
    assert (response.status_code, response.json()["code"]) == (401, "invalid_credentials")
    assert (await client.get("/api/v1/me", headers=BOB)).status_code == 200


async def test_soft_key_setup_when_already_enrolled_is_409_totp_already_enrolled(client):
    response = await client.post(
        "/api/v1/auth/totp/setup", headers=ALICE, json={"password": STRONG_PASSWORD}
    )
    assert (response.status_code, response.json()["code"]) == (409, "totp_already_enrolled")


async def test_confirming_the_soft_key_returns_ten_recovery_codes_and_enrols_it(client, doubles):
    await client.post("/api/v1/auth/totp/setup", headers=BOB, json={"password": STRONG_PASSWORD})
    assert (await client.get("/api/v1/me", headers=BOB)).json()["totp_enrolled"] is False
    response = await client.post("/api/v1/auth/totp/confirm", headers=BOB, json={"code": GOOD_CODE})
    assert response.status_code == 200, response.text
    codes = response.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert (await client.get("/api/v1/me", headers=BOB)).json()["totp_enrolled"] is True
    [(request, _, _)] = doubles.record.of("ConfirmTotp")
    assert request.client_address == "127.0.0.1"


async def test_a_wrong_confirmation_code_is_422_invalid_code_whatever_status_identity_used(client):
    await client.post("/api/v1/auth/totp/setup", headers=BOB, json={"password": STRONG_PASSWORD})
    response = await client.post("/api/v1/auth/totp/confirm", headers=BOB, json={"code": "000000"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_code"


async def test_elevating_rotates_the_token_and_the_old_token_is_refused_at_once(client, doubles):
    response = await client.post("/api/v1/auth/elevate", headers=ALICE, json={"code": GOOD_CODE})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"] != "session-alice" and body["csrf_token"]
    assert is_rfc3339_with_offset(body["elevated_until"])
    [(request, _, caller)] = doubles.record.of("Elevate")
    # The session raised is the one this request authenticated with.
    assert (request.session_token, request.code, request.client_address, caller) == (
        "session-alice",
        GOOD_CODE,
        "127.0.0.1",
        "u-alice",
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"haven_session={body['token']};") and "httponly" in cookie.lower()

    assert (await client.get("/api/v1/me", headers=ALICE)).status_code == 401
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["elevated_until"] == body["elevated_until"]


async def test_a_cookie_session_elevates_with_its_cookie_and_gets_the_new_one(client, doubles):
    login = await client.post(
        "/api/v1/auth/login", json={"email": "alice@school.org", "password": STRONG_PASSWORD}
    )
    old = login.json()
    response = await client.post(
        "/api/v1/auth/elevate",
        headers={"X-CSRF-Token": old["csrf_token"]},
        json={"code": GOOD_CODE},
    )
    assert response.status_code == 200, response.text
    new = response.json()
    [(request, _, _)] = doubles.record.of("Elevate")
    assert request.session_token == old["token"]
    # The browser's cookie is replaced: the new one works, with the new CSRF token.
    assert client.cookies["haven_session"] == new["token"]
    assert (await client.get("/api/v1/me")).status_code == 200
    read = await client.post(
        "/api/v1/alerts/al-1/read", headers={"X-CSRF-Token": new["csrf_token"]}
    )
    assert read.status_code == 204
    stale = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {old['token']}"})
    assert stale.status_code == 401


async def test_a_cookie_session_cannot_elevate_without_its_csrf_token(client, doubles):
    client.cookies.set("haven_session", "session-alice")
    response = await client.post("/api/v1/auth/elevate", json={"code": GOOD_CODE})
    assert (response.status_code, response.json()["code"]) == (403, "csrf_failed")
    assert doubles.record.of("Elevate") == []


async def test_elevating_without_a_soft_key_is_409_totp_not_enrolled(client):
    response = await client.post("/api/v1/auth/elevate", headers=BOB, json={"code": GOOD_CODE})
    assert (response.status_code, response.json()["code"]) == (409, "totp_not_enrolled")


async def test_a_wrong_or_replayed_code_is_401_invalid_code(client):
    wrong = await client.post("/api/v1/auth/elevate", headers=ALICE, json={"code": "000000"})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_code")
    first = await client.post("/api/v1/auth/elevate", headers=ALICE, json={"code": GOOD_CODE})
    assert first.status_code == 200
    again = {"Authorization": f"Bearer {first.json()['token']}"}
    replay = await client.post("/api/v1/auth/elevate", headers=again, json={"code": GOOD_CODE})
    assert (replay.status_code, replay.json()["code"]) == (401, "invalid_code")
    assert replay.json() | {"detail": ""} == wrong.json() | {"detail": ""}


async def test_a_recovery_code_elevates_once(client):
    await client.post("/api/v1/auth/totp/setup", headers=BOB, json={"password": STRONG_PASSWORD})
    confirm = await client.post("/api/v1/auth/totp/confirm", headers=BOB, json={"code": GOOD_CODE})
    recovery = confirm.json()["recovery_codes"][3]
    first = await client.post("/api/v1/auth/elevate", headers=BOB, json={"code": recovery})
    assert first.status_code == 200
    again = {"Authorization": f"Bearer {first.json()['token']}"}
    second = await client.post("/api/v1/auth/elevate", headers=again, json={"code": recovery})
    assert (second.status_code, second.json()["code"]) == (401, "invalid_code")


async def test_too_many_wrong_codes_is_429_too_many_attempts_with_retry_after(client):
    response = await client.post(
        "/api/v1/auth/elevate", headers=ALICE, json={"code": THROTTLED_CODE}
    )
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    assert response.headers["retry-after"] == "90"


async def test_me_gives_totp_enrolled_and_elevated_until_as_rfc3339_or_null(client):
    plain = (await client.get("/api/v1/me", headers=ALICE)).json()
    assert (plain["totp_enrolled"], plain["elevated_until"]) == (True, None)
    assert (await client.get("/api/v1/me", headers=BOB)).json()["totp_enrolled"] is False
    elevated = await client.post("/api/v1/auth/elevate", headers=ALICE, json={"code": GOOD_CODE})
    token = {"Authorization": f"Bearer {elevated.json()['token']}"}
    me = (await client.get("/api/v1/me", headers=token)).json()
    assert is_rfc3339_with_offset(me["elevated_until"])
    assert me["elevated_until"].endswith("+00:00")
