"""Issue 3's promises, end to end over HTTP against the real stack (see tests/e2e/conftest.py).

Registration, reset, login, sessions, the soft key, elevation, chronologies,
account administration and the audit log, each test named by the promise it
proves. Codes are computed with pyotp from the secret setup returns, as an
authenticator app would.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest

from .conftest import RunningStack
from .mailbox import mail_to, text_of, wait_for

STRONG = "correct horse battery staple lighthouse"
NEW_STRONG = "violet kestrel over the quiet harbour"
TOKEN_IN_LINK = re.compile(r"(\S*)/reset-password\?token=([A-Za-z0-9_\-]+)")
TRUST, SCHOOL = "Southfield Learning Trust", "Southfield Primary"
DOMAIN = "southfield.example"


def reset_links(stack: RunningStack, address: str) -> list[tuple[str, str]]:
    """(link base, token) of every reset email to `address`, oldest first."""
    links = []
    for message in mail_to(stack, address):
        found = TOKEN_IN_LINK.search(text_of(message))
        if found:
            links.append((found.group(1), found.group(2)))
    return links


def request_reset(client: httpx.Client, stack: RunningStack, email: str, **headers: str) -> str:
    before = len(reset_links(stack, email))
    reply = client.post("/api/v1/auth/password-reset", json={"email": email}, headers=headers)
    assert reply.status_code == 202, reply.text
    return wait_for(lambda: reset_links(stack, email)[before:])[-1][1]


def register(client: httpx.Client, stack: RunningStack, email: str, password: str = STRONG):
    """First-time registration is a password reset, as staff know it."""
    token = request_reset(client, stack, email)
    reply = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": password}
    )
    assert reply.status_code == 204, reply.text


def login(client: httpx.Client, email: str, password: str = STRONG, agent: str = "e2e") -> dict:
    reply = client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        headers={"User-Agent": agent},
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def bearer(session: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['token']}"}


def try_login(client: httpx.Client, email: str, password: str) -> httpx.Response:
    """A login attempt that waits out the throttle's growing delays, as a patient person would."""
    while True:
        reply = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        if reply.status_code != 429:
            return reply
        assert reply.json()["code"] == "too_many_attempts"
        time.sleep(int(reply.headers["Retry-After"]))


@pytest.fixture(scope="module")
def client(running_stack: RunningStack):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=running_stack.base_url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def school(running_stack: RunningStack, client: httpx.Client) -> dict:
    """A trust and school of its own, an admin who has registered, and a pupil."""
    result = running_stack.cli(
        "admin",
        "bootstrap",
        "--trust",
        TRUST,
        "--school",
        SCHOOL,
        "--admin-email",
        f"hana.admin@{DOMAIN}",
        "--admin-name",
        "Hana Admin",
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    register(client, running_stack, f"hana.admin@{DOMAIN}")
    admin = bearer(login(client, f"hana.admin@{DOMAIN}"))
    pupils = client.post(
        f"/api/v1/admin/schools/{created['school_id']}/students",
        json={
            "items": [
                {
                    "upn": "S123456789012",
                    "first_name": "Ruby",
                    "last_name": "Lane",
                    "year_group": "3",
                    "date_of_birth": "2018-05-01",
                }
            ]
        },
        headers=admin,
    )
    assert pupils.status_code == 200, pupils.text
    return created | {"admin": admin}


def member(
    client: httpx.Client, stack: RunningStack, school: dict, role: str = "staff"
) -> tuple[str, dict]:
    """A new member of staff of the school, registered and logged in: (email, session)."""
    email = f"{role}.{uuid.uuid4().hex[:8]}@{DOMAIN}"
    name = f"{role.title()} {email[len(role) + 1 : len(role) + 5]}"
    reply = client.post(
        f"/api/v1/admin/schools/{school['school_id']}/staff",
        json={"items": [{"email": email, "name": name, "role": role}]},
        headers=school["admin"],
    )
    assert reply.status_code == 200 and reply.json()["created"] == 1, reply.text
    register(client, stack, email)
    return email, login(client, email)


def user_id_of(client: httpx.Client, session: dict) -> str:
    return client.get("/api/v1/me", headers=bearer(session)).json()["id"]


def enrol_soft_key(client: httpx.Client, session: dict) -> tuple[pyotp.TOTP, list[str]]:
    setup = client.post(
        "/api/v1/auth/totp/setup", json={"password": STRONG}, headers=bearer(session)
    )
    assert setup.status_code == 200, setup.text
    totp = pyotp.TOTP(setup.json()["secret"])
    confirm = client.post(
        "/api/v1/auth/totp/confirm", json={"code": totp.now()}, headers=bearer(session)
    )
    assert confirm.status_code == 200, confirm.text
    return totp, confirm.json()["recovery_codes"]


def next_step_code(totp: pyotp.TOTP) -> str:
    # The current step's code is spent by the confirmation; one step of drift is allowed.
    return totp.at(time.time() + totp.interval)


# --- password reset ---------------------------------------------------------


def test_reset_answers_the_same_for_known_and_unknown_emails_and_only_the_known_gets_mail(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    email, _ = member(client, running_stack, school)
    unknown = f"nobody.{uuid.uuid4().hex[:8]}@{DOMAIN}"
    before = len(reset_links(running_stack, email))
    known_reply = client.post("/api/v1/auth/password-reset", json={"email": email})
    unknown_reply = client.post("/api/v1/auth/password-reset", json={"email": unknown})
    assert known_reply.status_code == unknown_reply.status_code == 202
    assert known_reply.content == unknown_reply.content
    wait_for(lambda: reset_links(running_stack, email)[before:])
    time.sleep(1.0)  # the unknown address's mail, if any were sent, would be here by now
    assert mail_to(running_stack, unknown) == []


def test_the_reset_link_is_built_from_haven_public_url_whatever_the_host_header_says(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    email, _ = member(client, running_stack, school)
    before = len(reset_links(running_stack, email))
    reply = client.post(
        "/api/v1/auth/password-reset",
        json={"email": email},
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert reply.status_code == 202
    base, _ = wait_for(lambda: reset_links(running_stack, email)[before:])[-1]
    assert base == running_stack.stack.public_url
    assert "evil.example" not in text_of(mail_to(running_stack, email)[-1])


def test_two_concurrent_confirms_with_one_token_succeed_once(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    email, _ = member(client, running_stack, school)
    token = request_reset(client, running_stack, email)

    def confirm(password: str) -> int:
        with httpx.Client(base_url=running_stack.base_url, timeout=30) as own:
            return own.post(
                "/api/v1/auth/password-reset/confirm",
                json={"token": token, "password": password},
            ).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = sorted(pool.map(confirm, [NEW_STRONG, NEW_STRONG + " again"]))
    assert answers == [204, 410]


def test_a_completed_reset_ends_every_session_and_sends_password_changed(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    email, laptop = member(client, running_stack, school)
    phone = login(client, email, agent="phone")
    token = request_reset(client, running_stack, email)
    reply = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": NEW_STRONG}
    )
    assert reply.status_code == 204
    for session in (laptop, phone):
        assert client.get("/api/v1/me", headers=bearer(session)).status_code == 401
    changed = wait_for(
        lambda: [
            m
            for m in mail_to(running_stack, email)
            if "password was changed" in str(m["Subject"]).lower()
        ]
    )
    assert changed
    assert login(client, email, NEW_STRONG)["token"]


def test_reset_requests_are_limited_per_email_known_or_not_with_retry_after(
    client: httpx.Client,
):
    unknown = f"flood.{uuid.uuid4().hex[:8]}@{DOMAIN}"
    answers = [
        client.post("/api/v1/auth/password-reset", json={"email": unknown}) for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [202] * 5 + [429]
    assert answers[-1].json()["code"] == "too_many_requests"
    assert int(answers[-1].headers["Retry-After"]) > 0


# --- login ------------------------------------------------------------------


def test_login_answers_invalid_credentials_for_unknown_email_wrong_password_and_a_locked_account(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    email, session = member(client, running_stack, school)
    user_id = user_id_of(client, session)
    unknown = try_login(client, f"nobody.{uuid.uuid4().hex[:8]}@{DOMAIN}", STRONG)
    wrong = try_login(client, email, "not the password at all")
    for _ in range(6):  # HAVEN_LOGIN_LOCK_AFTER in conftest.py
        try_login(client, email, "still not the password")
    locked = try_login(client, email, STRONG)  # the right password, on a locked account
    for reply in (unknown, wrong, locked):
        assert reply.status_code == 401
        assert reply.json()["code"] == "invalid_credentials"
    assert unknown.content == wrong.content == locked.content

    unlock = client.post(f"/api/v1/admin/users/{user_id}/unlock", headers=school["admin"])
    assert unlock.status_code == 204
    assert try_login(client, email, STRONG).status_code == 200


# --- the soft key and elevation ---------------------------------------------


def test_soft_key_setup_needs_the_password_and_confirm_returns_ten_recovery_codes(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    email, session = member(client, running_stack, school)
    wrong = client.post(
        "/api/v1/auth/totp/setup", json={"password": NEW_STRONG}, headers=bearer(session)
    )
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_credentials")
    setup = client.post(
        "/api/v1/auth/totp/setup", json={"password": STRONG}, headers=bearer(session)
    )
    assert setup.status_code == 200, setup.text
    body = setup.json()
    uri = urlparse(body["otpauth_uri"])
    assert uri.scheme == "otpauth" and parse_qs(uri.query)["issuer"] == ["Haven"]
    assert email in uri.path.replace("%40", "@")
    assert "<svg" in body["qr_svg"]
    totp = pyotp.TOTP(body["secret"])
    bad = client.post(
        "/api/v1/auth/totp/confirm",
        json={"code": "000000" if totp.now() != "000000" else "111111"},
        headers=bearer(session),
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_code")
    confirm = client.post(
        "/api/v1/auth/totp/confirm", json={"code": totp.now()}, headers=bearer(session)
    )
    assert confirm.status_code == 200, confirm.text
    codes = confirm.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert client.get("/api/v1/me", headers=bearer(session)).json()["totp_enrolled"] is True
    again = client.post(
        "/api/v1/auth/totp/setup", json={"password": STRONG}, headers=bearer(session)
    )
    assert (again.status_code, again.json()["code"]) == (409, "totp_already_enrolled")


def test_elevating_needs_a_soft_key(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    _, session = member(client, running_stack, school)
    reply = client.post("/api/v1/auth/elevate", json={"code": "123456"}, headers=bearer(session))
    assert (reply.status_code, reply.json()["code"]) == (409, "totp_not_enrolled")


def test_elevating_with_a_totp_code_rotates_the_token_and_a_replayed_code_is_refused(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    _, session = member(client, running_stack, school)
    totp, _ = enrol_soft_key(client, session)
    code = next_step_code(totp)
    reply = client.post("/api/v1/auth/elevate", json={"code": code}, headers=bearer(session))
    assert reply.status_code == 200, reply.text
    elevated = reply.json()
    assert elevated["token"] != session["token"] and elevated["elevated_until"]
    assert f"haven_session={elevated['token']}" in reply.headers["set-cookie"]
    # The old token stops working at once; the new one is elevated.
    assert client.get("/api/v1/me", headers=bearer(session)).status_code == 401
    me = client.get("/api/v1/me", headers=bearer(elevated)).json()
    assert me["elevated_until"] == elevated["elevated_until"]

    replay = client.post("/api/v1/auth/elevate", json={"code": code}, headers=bearer(elevated))
    assert (replay.status_code, replay.json()["code"]) == (401, "invalid_code")
    assert client.get("/api/v1/me", headers=bearer(elevated)).status_code == 200


def test_a_browser_elevates_with_its_cookie_and_csrf_token_and_gets_a_new_cookie(
    running_stack: RunningStack, client: httpx.Client, school: dict
):
    email, session = member(client, running_stack, school)
    totp, _ = enrol_soft_key(client, session)
    with httpx.Client(base_url=running_stack.base_url, timeout=30) as browser:
        old = browser.post("/api/v1/auth/login", json={"email": email, "password": STRONG}).json()
        no_csrf = browser.post("/api/v1/auth/elevate", json={"code": next_step_code(totp)})
        assert (no_csrf.status_code, no_csrf.json()["code"]) == (403, "csrf_failed")
        reply = browser.post(
            "/api/v1/auth/elevate",
            json={"code": next_step_code(totp)},
            headers={"X-CSRF-Token": old["csrf_token"]},
        )
        assert reply.status_code == 200, reply.text
        new = reply.json()
        assert browser.cookies["haven_session"] == new["token"] != old["token"]
        assert browser.get("/api/v1/me").json()["elevated_until"] == new["elevated_until"]
        assert client.get("/api/v1/me", headers=bearer(old)).status_code == 401
        out = browser.post("/api/v1/auth/logout", headers={"X-CSRF-Token": new["csrf_token"]})
        assert out.status_code == 204
        assert client.get("/api/v1/me", headers=bearer(new)).status_code == 401


def test_a_recovery_code_elevates_once(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    _, session = member(client, running_stack, school)
    _, recovery = enrol_soft_key(client, session)
    first = client.post("/api/v1/auth/elevate", json={"code": recovery[0]}, headers=bearer(session))
    assert first.status_code == 200, first.text
    second = client.post(
        "/api/v1/auth/elevate", json={"code": recovery[0]}, headers=bearer(first.json())
    )
    assert (second.status_code, second.json()["code"]) == (401, "invalid_code")
    third = client.post(
        "/api/v1/auth/elevate", json={"code": recovery[1]}, headers=bearer(first.json())
    )
    assert third.status_code == 200, third.text


def test_a_chronology_is_for_an_elevated_dsl_only(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    _, teacher = member(client, running_stack, school)
    _, dsl = member(client, running_stack, school, role="dsl")
    pupil = client.get("/api/v1/students", params={"q": "ruby"}, headers=bearer(teacher)).json()[
        "items"
    ][0]
    categories = wait_for(
        lambda: client.get("/api/v1/categories", headers=bearer(teacher)).json()["items"]
    )
    recorded = client.post(
        "/api/v1/incidents",
        json={
            "student_id": pupil["id"],
            "description": "Ruby said she was frightened to go home.",
            "category_ids": [categories[0]["id"]],
        },
        headers=bearer(teacher),
    )
    assert recorded.status_code == 201, recorded.text
    chronology = f"/api/v1/students/{pupil['id']}/incidents"

    staff_reply = client.get(chronology, headers=bearer(teacher))
    assert (staff_reply.status_code, staff_reply.json()["code"]) == (403, "forbidden")
    plain = client.get(chronology, headers=bearer(dsl))
    assert (plain.status_code, plain.json()["code"]) == (403, "elevation_required")

    totp, _ = enrol_soft_key(client, dsl)
    elevated = client.post(
        "/api/v1/auth/elevate", json={"code": next_step_code(totp)}, headers=bearer(dsl)
    )
    assert elevated.status_code == 200, elevated.text
    reply = client.get(chronology, headers=bearer(elevated.json()))
    assert reply.status_code == 200, reply.text
    assert recorded.json()["id"] in [i["id"] for i in reply.json()["items"]]
    unknown = client.get(
        f"/api/v1/students/{uuid.uuid4()}/incidents", headers=bearer(elevated.json())
    )
    assert unknown.status_code == 404


# --- sessions ---------------------------------------------------------------


def test_a_user_lists_their_sessions_and_ends_another_which_is_refused_at_once(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    email, laptop = member(client, running_stack, school)
    phone = login(client, email, agent="Haven phone")
    listed = client.get("/api/v1/auth/sessions", headers=bearer(laptop))
    assert listed.status_code == 200
    items = listed.json()["items"]
    [current] = [s for s in items if s["current"]]
    [other] = [s for s in items if s["client"] == "Haven phone"]
    assert current["id"] != other["id"]
    for session in items:
        assert {"id", "created_at", "last_seen_at", "client", "current"} <= set(session)
    assert (
        client.delete(f"/api/v1/auth/sessions/{other['id']}", headers=bearer(laptop)).status_code
        == 204
    )
    assert client.get("/api/v1/me", headers=bearer(phone)).status_code == 401
    assert client.get("/api/v1/me", headers=bearer(laptop)).status_code == 200
    gone = client.delete(f"/api/v1/auth/sessions/{other['id']}", headers=bearer(laptop))
    assert gone.status_code == 404


# --- administration ---------------------------------------------------------


def test_an_admins_soft_key_reset_emails_the_member(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    email, session = member(client, running_stack, school)
    enrol_soft_key(client, session)
    reply = client.post(
        f"/api/v1/admin/users/{user_id_of(client, session)}/totp/reset", headers=school["admin"]
    )
    assert reply.status_code == 204, reply.text
    assert client.get("/api/v1/me", headers=bearer(session)).json()["totp_enrolled"] is False
    wait_for(
        lambda: [
            m for m in mail_to(running_stack, email) if "soft key" in str(m["Subject"]).lower()
        ]
    )


def test_a_role_change_takes_effect_on_the_next_request(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    email, session = member(client, running_stack, school)
    assert client.get("/api/v1/me", headers=bearer(session)).json()["memberships"][0]["role"] == (
        "staff"
    )
    reply = client.post(
        f"/api/v1/admin/schools/{school['school_id']}/staff",
        json={"items": [{"email": email, "name": "Promoted Lead", "role": "dsl"}]},
        headers=school["admin"],
    )
    assert reply.status_code == 200 and reply.json()["updated"] == 1, reply.text
    me = client.get("/api/v1/me", headers=bearer(session)).json()
    assert [m["role"] for m in me["memberships"]] == ["dsl"]


def test_a_removed_membership_takes_effect_on_the_next_request(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    _, session = member(client, running_stack, school)
    school_id = school["school_id"]
    assert (
        client.get(f"/api/v1/categories?school_id={school_id}", headers=bearer(session)).status_code
        == 200
    )
    reply = client.delete(
        f"/api/v1/admin/schools/{school_id}/staff/{user_id_of(client, session)}",
        headers=school["admin"],
    )
    assert reply.status_code == 204, reply.text
    # The session lives on (the account is not disabled), but without the school.
    me = client.get("/api/v1/me", headers=bearer(session))
    assert (me.status_code, me.json()["memberships"]) == (200, [])
    gone = client.get(f"/api/v1/categories?school_id={school_id}", headers=bearer(session))
    assert gone.status_code == 404


def test_a_disabled_account_is_refused_on_the_next_request_and_cannot_log_in(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    email, session = member(client, running_stack, school)
    user_id = user_id_of(client, session)
    reply = client.post(f"/api/v1/admin/users/{user_id}/disable", headers=school["admin"])
    assert reply.status_code == 204, reply.text
    assert client.get("/api/v1/me", headers=bearer(session)).status_code == 401
    refused = try_login(client, email, STRONG)
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_credentials")
    enable = client.post(f"/api/v1/admin/users/{user_id}/enable", headers=school["admin"])
    assert enable.status_code == 204
    assert try_login(client, email, STRONG).status_code == 200


def test_the_audit_log_shows_login_failures_without_passwords(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    email, _ = member(client, running_stack, school)
    secret = f"my-secret-guess-{uuid.uuid4().hex}"
    assert try_login(client, email, secret).status_code == 401
    audit = client.get(
        "/api/v1/admin/audit",
        params={"school_id": school["school_id"], "limit": 100},
        headers=school["admin"],
    )
    assert audit.status_code == 200, audit.text
    failures = [
        e
        for e in audit.json()["items"]
        if e["action"] == "login_failed" and (e["subject"] or {}).get("email") == email
    ]
    assert failures, audit.json()["items"][:5]
    assert failures[0]["client_address"]
    assert secret not in audit.text
    assert STRONG not in audit.text
    trust = client.get(
        "/api/v1/admin/audit", params={"trust_id": school["trust_id"]}, headers=school["admin"]
    )
    assert trust.status_code == 200
    assert secret not in trust.text


def test_bad_input_is_a_problem_naming_the_field_never_a_500(
    client: httpx.Client, running_stack: RunningStack, school: dict
):
    _, session = member(client, running_stack, school)
    malformed = client.post(
        "/api/v1/auth/login", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert (malformed.status_code, malformed.json()["code"]) == (400, "bad_request")
    typo = client.post("/api/v1/auth/login", json={"email": "a@b.org", "pasword": STRONG})
    assert typo.status_code == 422
    assert {e["field"] for e in typo.json()["errors"]} == {"password", "pasword"}
    long_code = client.post(
        "/api/v1/auth/elevate", json={"code": "1" * 65}, headers=bearer(session)
    )
    assert [e["field"] for e in long_code.json()["errors"]] == ["code"]
    for url in ("/api/v1/students?q=a%00b", "/api/v1/incidents/%00"):
        reply = client.get(url, headers=bearer(session))
        assert reply.status_code == 422, reply.text
    surrogate = client.post(
        "/api/v1/auth/password-reset",
        content=b'{"email": "\\ud800@b.org"}',
        headers={"Content-Type": "application/json"},
    )
    assert [e["field"] for e in surrogate.json()["errors"]] == ["email"]
    not_a_uuid = client.get("/api/v1/students/not-a-uuid/incidents", headers=bearer(session))
    assert not_a_uuid.status_code in (403, 404)
