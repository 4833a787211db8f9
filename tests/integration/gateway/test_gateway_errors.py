"""Failures in the services reach the client as problem+json with the API's codes."""

from __future__ import annotations

import httpx

from haven_gateway.app import create_app

from .gateway_doubles import settings_for

ALICE = {"Authorization": "Bearer session-alice"}


async def test_not_found_in_a_service_is_a_problem_json_404(client):
    response = await client.get("/api/v1/incidents/inc-missing", headers=ALICE)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "not_found"
    assert set(problem) >= {"type", "title", "status", "detail", "code"}


async def test_a_validation_failure_in_a_service_is_a_422_with_each_field(client):
    response = await client.post(
        "/api/v1/incidents",
        headers=ALICE,
        json={"student_id": "st-404", "description": "x", "category_ids": ["cat-1", "cat-9"]},
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert problem["errors"] == [
        {"field": "student_id", "message": "no such pupil in this school"},
        {"field": "category_ids[1]", "message": "no such category"},
    ]


async def test_the_gateways_own_validation_names_nested_fields(client, doubles):
    response = await client.post(
        "/api/v1/incidents",
        headers=ALICE,
        json={
            "student_id": "st-1",
            "description": "x",
            "category_ids": ["cat-1"],
            "body_map": [{"side": "front", "x": 0.2, "y": 0.3}, {"side": "top", "x": 2, "y": 0}],
        },
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"body_map[1].side", "body_map[1].x"}
    assert doubles.record.of("RecordIncident") == []


async def test_too_many_reset_requests_is_429_with_retry_after(client):
    response = await client.post("/api/v1/auth/password-reset", json={"email": "flood@school.org"})
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_requests"
    assert response.headers["retry-after"] == "30"


async def test_a_password_reset_request_answers_the_same_whether_or_not_the_account_exists(
    client, doubles
):
    known = await client.post("/api/v1/auth/password-reset", json={"email": "alice@school.org"})
    unknown = await client.post("/api/v1/auth/password-reset", json={"email": "who@nowhere.org"})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content == b'{"status":"accepted"}'
    addresses = {r.client_address for r, _, _ in doubles.record.of("RequestPasswordReset")}
    assert addresses == {"127.0.0.1"}


async def test_a_spent_reset_token_is_410_invalid_token(client):
    response = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": "reset-spent", "password": "correct horse battery staple"},
    )
    assert (response.status_code, response.json()["code"]) == (410, "invalid_token")


async def test_a_weak_password_is_422_weak_password_with_its_strength(client):
    response = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": "reset-good", "password": "hunter2"}
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "weak_password"
    assert problem["strength"] == {
        "score": 1,
        "label": "weak",
        "acceptable": False,
        "warning": "This is similar to a commonly used password.",
        "suggestions": ["Add another word or two."],
    }


async def test_a_strong_password_confirms_the_reset_with_204(client):
    response = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": "reset-good", "password": "correct horse battery staple"},
    )
    assert response.status_code == 204


async def test_password_strength_answers_the_score_and_label(client, doubles):
    response = await client.post(
        "/api/v1/auth/password-strength", json={"password": "hunter2", "token": "reset-good"}
    )
    assert response.status_code == 200
    assert (response.json()["score"], response.json()["label"]) == (1, "weak")
    [(request, _, _)] = doubles.record.of("CheckPasswordStrength")
    assert request.token == "reset-good"


async def test_a_service_that_does_not_answer_is_a_503(doubles):
    app = create_app(settings_for(doubles.address, incidents_addr="127.0.0.1:9"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            response = await client.get("/api/v1/categories", headers=ALICE)
            ready = await client.get("/readyz")
    assert (response.status_code, response.json()["code"]) == (503, "service_unavailable")
    assert ready.status_code == 503
    assert ready.json()["services"]["incidents"] == "unreachable"
    assert ready.json()["services"]["identity"] == "serving"


async def test_readyz_is_200_when_every_service_is_serving(client):
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "services": {s: "serving" for s in ("identity", "incidents", "notifications", "files")},
    }


async def test_readyz_is_503_when_a_service_says_it_is_not_serving(client, doubles):
    from grpc_health.v1 import health_pb2

    await doubles.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["services"]["files"] == "not_serving"
