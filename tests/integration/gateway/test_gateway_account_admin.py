"""Account administration and the audit log through the gateway.

Changes count from the member's very next request, because the gateway asks
identity on every request and keeps no copy of anyone's roles or sessions.
"""

from __future__ import annotations

import pytest

from .gateway_doubles import SCHOOL

ADA = {"Authorization": "Bearer session-ada"}  # admin of SCHOOL
ALICE = {"Authorization": "Bearer session-alice"}  # staff of SCHOOL
BOB = {"Authorization": "Bearer session-bob"}  # staff of SCHOOL and OTHER_SCHOOL


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/admin/users/u-alice/unlock", "UnlockUser"),
        ("/api/v1/admin/users/u-alice/totp/reset", "ResetTotp"),
        ("/api/v1/admin/users/u-alice/disable", "SetUserDisabled"),
        ("/api/v1/admin/users/u-alice/enable", "SetUserDisabled"),
    ],
)
async def test_each_account_action_is_204_and_names_the_member(client, doubles, path, method):
    response = await client.post(path, headers=ADA)
    assert (response.status_code, response.content) == (204, b"")
    [(request, _, caller)] = doubles.record.of(method)
    assert (request.user_id, caller) == ("u-alice", "u-ada")


async def test_disable_and_enable_say_which_they_mean(client, doubles):
    await client.post("/api/v1/admin/users/u-bob/disable", headers=ADA)
    await client.post("/api/v1/admin/users/u-bob/enable", headers=ADA)
    assert [r.disabled for r, _, _ in doubles.record.of("SetUserDisabled")] == [True, False]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/admin/users/u-nobody/unlock",
        "/api/v1/admin/users/u-nobody/totp/reset",
        "/api/v1/admin/users/u-nobody/disable",
        f"/api/v1/admin/schools/{SCHOOL}/staff/u-nobody",
    ],
)
async def test_an_unknown_member_is_404(client, path):
    method = client.delete if "/staff/" in path else client.post
    response = await method(path, headers=ADA)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


async def test_a_member_of_staff_may_not_administer_accounts(client):
    response = await client.post("/api/v1/admin/users/u-bob/unlock", headers=ALICE)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


async def test_a_disabled_account_is_refused_on_its_very_next_request(client):
    assert (await client.get("/api/v1/me", headers=ALICE)).status_code == 200
    assert (
        await client.post("/api/v1/admin/users/u-alice/disable", headers=ADA)
    ).status_code == 204
    refused = await client.get("/api/v1/me", headers=ALICE)
    assert (refused.status_code, refused.json()["code"]) == (401, "unauthenticated")


async def test_a_soft_key_reset_shows_on_the_members_very_next_request(client):
    assert (await client.get("/api/v1/me", headers=ALICE)).json()["totp_enrolled"] is True
    await client.post("/api/v1/admin/users/u-alice/totp/reset", headers=ADA)
    assert (await client.get("/api/v1/me", headers=ALICE)).json()["totp_enrolled"] is False


async def test_a_removed_membership_takes_effect_on_the_members_very_next_request(client, doubles):
    before = (await client.get("/api/v1/me", headers=BOB)).json()
    assert {m["school_id"] for m in before["memberships"]} == {SCHOOL, "school-2"}
    response = await client.delete(f"/api/v1/admin/schools/{SCHOOL}/staff/u-bob", headers=ADA)
    assert response.status_code == 204
    [(request, _, _)] = doubles.record.of("RemoveMembership")
    assert (request.school_id, request.user_id) == (SCHOOL, "u-bob")
    after = (await client.get("/api/v1/me", headers=BOB)).json()
    assert [m["school_id"] for m in after["memberships"]] == ["school-2"]
    # The services see it too: the next internal token no longer names the school.
    gone = await client.get(f"/api/v1/categories?school_id={SCHOOL}", headers=BOB)
    assert gone.status_code == 404


async def test_a_role_change_takes_effect_on_the_very_next_request(client, doubles):
    assert (await client.get("/api/v1/me", headers=ALICE)).json()["memberships"][0]["role"] == (
        "staff"
    )
    doubles.identity.users["u-alice"].memberships[0].role = "dsl"  # as an admin's import would
    me = (await client.get("/api/v1/me", headers=ALICE)).json()
    assert me["memberships"][0]["role"] == "dsl"


async def test_the_audit_log_lists_who_did_what_to_whom_from_where(client, doubles):
    response = await client.get("/api/v1/admin/audit?limit=2", headers=ADA)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] == "page-2"
    failed, reset = body["items"]
    assert failed == {
        "id": "ev-2",
        "at": "2026-11-30T10:05:00+00:00",
        "action": "login_failed",
        "actor": None,
        "subject": {"id": None, "email": "who@nowhere.org"},
        "school_id": None,
        "trust_id": None,
        "client_address": "203.0.113.9",
        "detail": {"reason": "unknown_email"},
    }
    assert reset["actor"] == {"id": "u-ada", "name": "Ada"}
    assert reset["subject"] == {"id": "u-alice", "email": "alice@school.org"}
    assert reset["detail"] == {}
    [(request, _, _)] = doubles.record.of("ListAuditEvents")
    # The admin's only school is assumed when none is named.
    assert (request.school_id, request.trust_id, request.limit) == (SCHOOL, "", 2)


async def test_the_audit_log_of_a_trust_and_the_next_page(client, doubles):
    response = await client.get("/api/v1/admin/audit?trust_id=t-1&cursor=page-2", headers=ADA)
    assert response.status_code == 200
    assert response.json()["next_cursor"] is None
    [(request, _, _)] = doubles.record.of("ListAuditEvents")
    assert (request.school_id, request.trust_id, request.cursor) == ("", "t-1", "page-2")


async def test_the_audit_log_takes_a_school_or_a_trust_not_both(client, doubles):
    response = await client.get(f"/api/v1/admin/audit?school_id={SCHOOL}&trust_id=t-1", headers=ADA)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["trust_id"]
    assert doubles.record.of("ListAuditEvents") == []


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "cursor=" + "c" * 513])
async def test_the_audit_log_refuses_a_bad_limit_or_cursor_with_422(client, query):
    response = await client.get(f"/api/v1/admin/audit?{query}", headers=ADA)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == query.split("=")[0]


async def test_the_audit_log_of_a_school_one_does_not_administer_is_404(client):
    response = await client.get(f"/api/v1/admin/audit?school_id={SCHOOL}", headers=ALICE)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
