"""A pupil's chronology: for DSLs whose session is elevated, decided by incidents."""

from __future__ import annotations

from .identity_security_double import GOOD_CODE

ALICE = {"Authorization": "Bearer session-alice"}  # staff
DEE = {"Authorization": "Bearer session-dee"}  # DSL with a soft key
CHRONOLOGY = "/api/v1/students/st-1/incidents"


async def record(client, description: str) -> dict:
    response = await client.post(
        "/api/v1/incidents",
        headers=ALICE,
        json={"student_id": "st-1", "description": description, "category_ids": ["cat-1"]},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def elevated(client, who: dict[str, str]) -> dict[str, str]:
    response = await client.post("/api/v1/auth/elevate", headers=who, json={"code": GOOD_CODE})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_a_member_of_staff_may_not_see_a_chronology(client):
    response = await client.get(CHRONOLOGY, headers=ALICE)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


async def test_a_dsl_without_elevation_gets_403_elevation_required(client):
    response = await client.get(CHRONOLOGY, headers=DEE)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "elevation_required"


async def test_an_elevated_dsl_reads_the_chronology_as_incidents(client, doubles):
    recorded = await record(client, "First.")
    dsl = await elevated(client, DEE)
    response = await client.get(f"{CHRONOLOGY}?limit=5", headers=dsl)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [i["id"] for i in body["items"]] == [recorded["id"]]
    assert body["items"][0] == recorded
    assert body["next_cursor"] is None
    [(request, _, caller)] = doubles.record.of("ListStudentIncidents")[-1:]
    assert (request.student_id, request.limit, caller) == ("st-1", 5, "u-dee")


async def test_an_unknown_pupil_is_404(client):
    dsl = await elevated(client, DEE)
    response = await client.get("/api/v1/students/st-unknown/incidents", headers=dsl)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


async def test_the_chronology_needs_a_session(client):
    response = await client.get(CHRONOLOGY)
    assert (response.status_code, response.json()["code"]) == (401, "unauthenticated")
