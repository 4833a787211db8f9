"""Errors the app answers itself, with no service behind it, are problem+json too."""

from __future__ import annotations

import pytest

from .conftest import gateway_without_services


@pytest.fixture
async def client():
    async with gateway_without_services() as client:
        yield client


async def test_malformed_json_is_a_400_bad_request(client):
    response = await client.post(
        "/api/v1/auth/login", content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "bad_request"


async def test_a_body_that_fails_validation_is_a_422_with_field_paths(client):
    response = await client.post("/api/v1/auth/password-reset/confirm", json={"token": ""})
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert {e["field"] for e in problem["errors"]} == {"token", "password"}


async def test_a_body_that_is_not_json_is_a_415(client):
    response = await client.post(
        "/api/v1/auth/login", content=b"email=a", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


async def test_an_unknown_address_is_a_problem_json_404(client):
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


async def test_a_wrong_method_is_a_problem_json_405_naming_the_allowed_ones(client):
    response = await client.delete("/api/v1/auth/login")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]


async def test_a_request_without_credentials_is_a_401_before_any_service_is_asked(client):
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


async def test_the_openapi_document_is_served_under_the_api_prefix(client):
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/incidents" in paths and "/api/v1/admin/schools/{school_id}/students" in paths
    assert (await client.get("/api/v1/docs")).status_code == 200


async def test_the_openapi_document_describes_the_soft_key_sessions_and_audit(client):
    document = (await client.get("/api/v1/openapi.json")).json()
    paths = document["paths"]
    for path, method in [
        ("/api/v1/auth/totp/setup", "post"),
        ("/api/v1/auth/totp/confirm", "post"),
        ("/api/v1/auth/elevate", "post"),
        ("/api/v1/auth/sessions", "get"),
        ("/api/v1/auth/sessions/{session_id}", "delete"),
        ("/api/v1/admin/users/{user_id}/unlock", "post"),
        ("/api/v1/admin/users/{user_id}/totp/reset", "post"),
        ("/api/v1/admin/users/{user_id}/disable", "post"),
        ("/api/v1/admin/users/{user_id}/enable", "post"),
        ("/api/v1/admin/schools/{school_id}/staff/{user_id}", "delete"),
        ("/api/v1/admin/audit", "get"),
        ("/api/v1/students/{student_id}/incidents", "get"),
    ]:
        assert method in paths[path], path
    login = document["components"]["schemas"]["LoginIn"]
    assert login["properties"]["password"]["maxLength"] == 256
    assert login["properties"]["email"]["maxLength"] == 254
    assert login["additionalProperties"] is False


async def test_healthz_answers_without_any_service(client):
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_a_body_over_the_limit_is_413_whether_declared_or_streamed():
    async def streamed():
        for _ in range(10):
            yield b'{"email": "' + b"a" * 200

    async with gateway_without_services(max_body_bytes=1000) as client:
        declared = await client.post("/api/v1/auth/login", json={"email": "a" * 2000})
        chunked = await client.post(
            "/api/v1/auth/login",
            content=streamed(),
            headers={"content-type": "application/json"},
        )
    for response in (declared, chunked):
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
        assert response.headers["x-request-id"]
