"""Addenda, the audit trail of who viewed an incident, and retiring categories and agencies.

Incidents decides who may; the gateway passes its answer on as the API's status
and code, and shapes the JSON.
"""

from __future__ import annotations

import pytest

from .gateway_doubles import SCHOOL

ALICE = {"Authorization": "Bearer session-alice"}  # staff: the author
BOB = {"Authorization": "Bearer session-bob"}  # staff: alerted
DEE = {"Authorization": "Bearer session-dee"}  # the school's DSL
ADA = {"Authorization": "Bearer session-ada"}  # the school's admin, not alerted


async def recorded(client) -> dict:
    response = await client.post(
        "/api/v1/incidents",
        headers=ALICE,
        json={
            "student_id": "st-1",
            "description": "Seen at the gate.",
            "category_ids": ["cat-1"],
            "alert_staff_ids": ["u-bob"],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


async def add(client, incident_id: str, who: dict[str, str], body: object):
    return await client.post(f"/api/v1/incidents/{incident_id}/addenda", headers=who, json=body)


async def test_a_new_incident_has_no_addenda(client):
    assert (await recorded(client))["addenda"] == []


async def test_the_author_and_a_dsl_add_addenda_that_the_incident_lists_in_order(client, doubles):
    incident = await recorded(client)
    first = await add(client, incident["id"], ALICE, {"text": "Correction: the back gate."})
    assert first.status_code == 201, first.text
    assert first.json() == {
        "id": "add-1",
        "text": "Correction: the back gate.",
        "author": {"id": "u-alice", "name": "Alice"},
        "created_at": "2026-11-30T11:00:00+00:00",
    }
    second = await add(client, incident["id"], DEE, {"text": "Spoke to the family."})
    assert second.status_code == 201, second.text

    shown = (await client.get(f"/api/v1/incidents/{incident['id']}", headers=BOB)).json()
    assert [(a["text"], a["author"]["id"]) for a in shown["addenda"]] == [
        ("Correction: the back gate.", "u-alice"),
        ("Spoke to the family.", "u-dee"),
    ]
    assert shown["description"] == "Seen at the gate."
    [(request, _, caller)] = doubles.record.of("AddAddendum")[:1]
    assert (request.incident_id, caller) == (incident["id"], "u-alice")


async def test_alerted_staff_may_read_but_not_add_to_an_incident(client):
    incident = await recorded(client)
    response = await add(client, incident["id"], BOB, {"text": "I saw it too."})
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


@pytest.mark.parametrize("who", [ADA, DEE], ids=["not allowed to see it", "dsl"])
async def test_an_addendum_to_an_incident_the_caller_cannot_see_is_the_same_404_as_unknown(
    client, who
):
    incident = await recorded(client)
    unknown = await add(client, "inc-unknown", who, {"text": "Hello."})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    if who is ADA:
        hidden = await add(client, incident["id"], who, {"text": "Hello."})
        assert hidden.status_code == 404
        assert hidden.json() == unknown.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 20_001}, "text"),
        ({}, "text"),
        ({"text": "Fine.", "txt": "typo"}, "txt"),
        ({"text": "nul \x00"}, "text"),
    ],
    ids=["empty", "blank", "too long", "missing", "unknown field", "nul"],
)
async def test_a_bad_addendum_is_422_naming_the_field_and_never_reaches_incidents(
    client, doubles, body, field
):
    incident = await recorded(client)
    response = await add(client, incident["id"], ALICE, body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert doubles.record.of("AddAddendum") == []


async def test_an_addendum_of_twenty_thousand_characters_is_accepted(client):
    incident = await recorded(client)
    response = await add(client, incident["id"], ALICE, {"text": "x" * 20_000})
    assert response.status_code == 201, response.text


async def test_a_dsl_reads_who_viewed_the_incident_page_by_page(client, doubles):
    incident = await recorded(client)
    first = await client.get(f"/api/v1/incidents/{incident['id']}/views?limit=1", headers=DEE)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "items": [
            {
                "user": {"id": "u-alice", "name": "Alice"},
                "action": "viewed",
                "at": "2026-11-30T10:05:00+00:00",
                "client_address": "203.0.113.7",
                "file_id": None,
            }
        ],
        "next_cursor": "1",
    }
    second = await client.get(
        f"/api/v1/incidents/{incident['id']}/views?limit=1&cursor=1", headers=DEE
    )
    body = second.json()
    assert body["next_cursor"] is None
    assert [(v["action"], v["file_id"]) for v in body["items"]] == [("file_downloaded", "file-1")]
    [(request, _, caller)] = doubles.record.of("ListIncidentViews")[-1:]
    assert (request.incident_id, request.limit, request.cursor, caller) == (
        incident["id"],
        1,
        "1",
        "u-dee",
    )


async def test_the_author_may_not_read_who_viewed_the_incident(client):
    incident = await recorded(client)
    response = await client.get(f"/api/v1/incidents/{incident['id']}/views", headers=ALICE)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


async def test_views_of_an_incident_the_caller_cannot_see_are_the_same_404_as_unknown(client):
    incident = await recorded(client)
    hidden = await client.get(f"/api/v1/incidents/{incident['id']}/views", headers=ADA)
    unknown = await client.get("/api/v1/incidents/inc-unknown/views", headers=DEE)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()


async def test_views_refuse_a_limit_over_100(client):
    response = await client.get("/api/v1/incidents/inc-1/views?limit=101", headers=DEE)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["limit"]


@pytest.mark.parametrize(("kind", "known"), [("categories", "cat-1"), ("agencies", "ag-1")])
async def test_an_admin_retires_a_category_or_agency_with_204(client, doubles, kind, known):
    response = await client.delete(f"/api/v1/admin/schools/{SCHOOL}/{kind}/{known}", headers=ADA)
    assert response.status_code == 204, response.text
    assert response.content == b""
    singular = {"categories": "category", "agencies": "agency"}[kind]
    assert (singular, known) in doubles.incidents.retired
    method = {"categories": "RetireCategory", "agencies": "RetireAgency"}[kind]
    [(request, _, caller)] = doubles.record.of(method)
    assert (request.school_id, request.id, caller) == (SCHOOL, known, "u-ada")


@pytest.mark.parametrize("kind", ["categories", "agencies"])
async def test_retiring_is_403_for_staff_and_404_for_unknown_ids(client, kind):
    known = {"categories": "cat-1", "agencies": "ag-1"}[kind]
    staff = await client.delete(f"/api/v1/admin/schools/{SCHOOL}/{kind}/{known}", headers=DEE)
    assert (staff.status_code, staff.json()["code"]) == (403, "forbidden")
    unknown = await client.delete(f"/api/v1/admin/schools/{SCHOOL}/{kind}/nope", headers=ADA)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    elsewhere = await client.delete(f"/api/v1/admin/schools/school-9/{kind}/{known}", headers=ADA)
    assert (elsewhere.status_code, elsewhere.json()) == (404, unknown.json())


async def test_retiring_by_cookie_needs_the_csrf_token(client, doubles):
    client.cookies.set("haven_session", "session-ada")
    try:
        refused = await client.delete(f"/api/v1/admin/schools/{SCHOOL}/categories/cat-1")
        assert (refused.status_code, refused.json()["code"]) == (403, "csrf_failed")
        assert doubles.record.of("RetireCategory") == []
        allowed = await client.delete(
            f"/api/v1/admin/schools/{SCHOOL}/categories/cat-1",
            headers={"X-CSRF-Token": "csrf-ada"},
        )
        assert allowed.status_code == 204
    finally:
        client.cookies.clear()


async def test_the_openapi_document_describes_addenda_views_and_retiring(client):
    paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
    addenda = paths["/api/v1/incidents/{incident_id}/addenda"]["post"]
    assert {"201", "403", "404", "422"} <= set(addenda["responses"])
    views = paths["/api/v1/incidents/{incident_id}/views"]["get"]
    assert {"200", "403", "404"} <= set(views["responses"])
    for kind, name in (("categories", "category_id"), ("agencies", "agency_id")):
        retire = paths[f"/api/v1/admin/schools/{{school_id}}/{kind}/{{{name}}}"]["delete"]
        assert {"204", "403", "404"} <= set(retire["responses"])
        assert "past incidents keep it" in retire["description"]
