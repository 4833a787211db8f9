"""Bad input anywhere is a 400 or 422 problem naming the field, never a 500, and reaches no service.

Malformed JSON is 400 bad_request; wrong types, over-long values and text that
cannot be stored are 422 validation_failed naming the field; unknown fields are
refused on the /auth/* bodies and the incident body (see haven_gateway.inputs),
and ignored elsewhere.
"""

from __future__ import annotations

import json
import unicodedata

import pytest

from .gateway_doubles import SCHOOL, STRONG_PASSWORD

ALICE = {"Authorization": "Bearer session-alice"}
ADA = {"Authorization": "Bearer session-ada"}
INCIDENT = {"student_id": "st-1", "description": "Arrived upset.", "category_ids": ["cat-1"]}

# path, a good body, the service method it reaches, who calls
ENDPOINTS = [
    ("/api/v1/auth/password-reset", {"email": "alice@school.org"}, "RequestPasswordReset", {}),
    ("/api/v1/auth/password-strength", {"password": "x"}, "CheckPasswordStrength", {}),
    (
        "/api/v1/auth/password-reset/confirm",
        {"token": "reset-good", "password": STRONG_PASSWORD},
        "ConfirmPasswordReset",
        {},
    ),
    (
        "/api/v1/auth/login",
        {"email": "alice@school.org", "password": STRONG_PASSWORD},
        "Login",
        {},
    ),
    ("/api/v1/auth/totp/setup", {"password": STRONG_PASSWORD}, "SetupTotp", ALICE),
    ("/api/v1/auth/totp/confirm", {"code": "123456"}, "ConfirmTotp", ALICE),
    ("/api/v1/auth/elevate", {"code": "123456"}, "Elevate", ALICE),
    ("/api/v1/incidents", INCIDENT, "RecordIncident", ALICE),
    ("/api/v1/admin/schools", {"trust_id": "t-1", "name": "Eastfield"}, "CreateSchool", ADA),
    (f"/api/v1/admin/schools/{SCHOOL}/categories", {"name": "Online"}, "CreateCategory", ADA),
]
PATHS = [pytest.param(e, id=e[0]) for e in ENDPOINTS]
STRICT = [p for p in PATHS if "/auth/" in p.values[0][0] or p.values[0][0].endswith("incidents")]


def first_field(body: dict) -> str:
    return next(iter(body))


async def post_escaped(client, path: str, body: dict, headers: dict):
    """JSON as a client may send it: "\\ud800" escapes are valid JSON, if not valid text."""
    return await client.post(
        path,
        content=json.dumps(body, ensure_ascii=True).encode(),
        headers=headers | {"content-type": "application/json"},
    )


@pytest.mark.parametrize("endpoint", PATHS)
@pytest.mark.parametrize(
    "raw", [b'{"email": ', b"{'a': 1}", b"\xff\xfe not utf-8", b"[" * 100_000 + b"]" * 100_000]
)
async def test_malformed_json_is_400_and_reaches_no_service(client, doubles, endpoint, raw):
    path, _, method, headers = endpoint
    response = await client.post(
        path, content=raw, headers=headers | {"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "bad_request"
    assert doubles.record.of(method) == []


@pytest.mark.parametrize("endpoint", PATHS)
@pytest.mark.parametrize("body", [[], "text", None, 7])
async def test_a_body_that_is_not_an_object_is_422_naming_the_body(client, doubles, endpoint, body):
    path, _, method, headers = endpoint
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["body"]
    assert doubles.record.of(method) == []


@pytest.mark.parametrize("endpoint", PATHS)
@pytest.mark.parametrize("wrong", [5, ["a"], {"a": 1}, True])
async def test_a_value_of_the_wrong_type_is_422_naming_its_field(client, doubles, endpoint, wrong):
    path, good, method, headers = endpoint
    field = first_field(good)
    response = await client.post(path, json=good | {field: wrong}, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert doubles.record.of(method) == []


@pytest.mark.parametrize("endpoint", PATHS)
@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "nul\x00byte"])
async def test_text_that_cannot_be_sent_or_stored_is_422_not_500(client, doubles, endpoint, text):
    path, good, method, headers = endpoint
    field = next(k for k, v in good.items() if isinstance(v, str))
    response = await post_escaped(client, path, good | {field: text}, headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert doubles.record.of(method) == []


async def test_unstorable_text_inside_a_list_is_refused_too(client, doubles):
    response = await post_escaped(
        client, "/api/v1/incidents", INCIDENT | {"category_ids": ["cat-1", "\ud800"]}, ALICE
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("category_ids")
    assert doubles.record.of("RecordIncident") == []


@pytest.mark.parametrize("endpoint", STRICT)
async def test_an_unknown_field_on_an_auth_or_incident_body_is_422_naming_it(
    client, doubles, endpoint
):
    path, good, method, headers = endpoint
    response = await client.post(path, json=good | {"pasword": "typo"}, headers=headers)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["pasword"]
    assert doubles.record.of(method) == []


async def test_a_misspelled_password_is_never_taken_as_an_empty_one(client, doubles):
    response = await client.post(
        "/api/v1/auth/login", json={"email": "alice@school.org", "pasword": STRONG_PASSWORD}
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"password", "pasword"}
    assert doubles.record.of("Login") == []


async def test_a_misspelled_alert_list_on_an_incident_is_refused_not_dropped(client, doubles):
    response = await client.post(
        "/api/v1/incidents", json=INCIDENT | {"alert_staf_ids": ["u-dsl"]}, headers=ALICE
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["alert_staf_ids"]


async def test_unknown_fields_elsewhere_are_ignored(client, doubles):
    response = await client.post(
        f"/api/v1/admin/schools/{SCHOOL}/categories",
        json={"name": "Online safety", "colour": "red"},
        headers=ADA,
    )
    assert response.status_code == 201
    [(request, _, _)] = doubles.record.of("CreateCategory")
    assert request.name == "Online safety"


@pytest.mark.parametrize(
    ("path", "good", "field", "limit", "headers"),
    [
        ("/api/v1/auth/password-reset", {}, "email", 254, {}),
        ("/api/v1/auth/login", {"password": STRONG_PASSWORD}, "email", 254, {}),
        ("/api/v1/auth/login", {"email": "a@b.org"}, "password", 256, {}),
        ("/api/v1/auth/password-strength", {}, "password", 256, {}),
        ("/api/v1/auth/password-reset/confirm", {"token": "t"}, "password", 256, {}),
        ("/api/v1/auth/password-reset/confirm", {"password": "p"}, "token", 512, {}),
        ("/api/v1/auth/totp/setup", {}, "password", 256, ALICE),
        ("/api/v1/auth/totp/confirm", {}, "code", 64, ALICE),
        ("/api/v1/auth/elevate", {}, "code", 64, ALICE),
        ("/api/v1/incidents", INCIDENT, "description", 20_000, ALICE),
        ("/api/v1/admin/schools", {"trust_id": "t-1"}, "name", 200, ADA),
        (f"/api/v1/admin/schools/{SCHOOL}/agencies", {}, "name", 200, ADA),
    ],
)
async def test_an_over_long_value_is_422_naming_the_field_and_the_limit(
    client, doubles, path, good, field, limit, headers
):
    response = await client.post(path, json=good | {field: "x" * (limit + 1)}, headers=headers)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == field
    assert str(limit) in error["message"]
    assert "x" * 50 not in response.text  # the value is never echoed back


async def test_a_256_character_password_reaches_identity_whole(client, doubles):
    password = "ü" * 128 + " " * 64 + "🦉" * 64  # any Unicode, spaces, 256 characters
    response = await client.post(
        "/api/v1/auth/login", json={"email": "alice@school.org", "password": password}
    )
    assert (response.status_code, response.json()["code"]) == (401, "invalid_credentials")
    [(request, _, _)] = doubles.record.of("Login")
    assert request.password == password


async def test_a_password_is_measured_as_identity_measures_it_after_nfkc(client, doubles):
    # 250 accented letters typed decomposed (as macOS sends them) are 500 code points,
    # but 250 characters once normalised: within the limit, and passed on untouched.
    password = unicodedata.normalize("NFD", "é" * 250)
    assert len(password) == 500
    response = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": "reset-good", "password": password}
    )
    assert response.status_code != 422 or response.json()["code"] == "weak_password"
    [(request, _, _)] = doubles.record.of("ConfirmPasswordReset")
    assert request.password == password


async def test_an_empty_password_is_refused_for_login_but_rated_by_the_meter(client, doubles):
    login = await client.post("/api/v1/auth/login", json={"email": "a@b.org", "password": ""})
    assert login.status_code == 422
    assert [e["field"] for e in login.json()["errors"]] == ["password"]
    meter = await client.post("/api/v1/auth/password-strength", json={"password": ""})
    assert meter.status_code == 200


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=ten", "limit=99999999999999999999999"]
)
async def test_a_bad_limit_on_the_chronology_is_422_naming_it(client, query):
    response = await client.get(f"/api/v1/students/st-1/incidents?{query}", headers=ALICE)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["limit"]


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/incidents/inc%00-1", "incident_id"),
        ("/api/v1/students?q=sa%00m", "q"),
        ("/api/v1/students/st%00/incidents", "student_id"),
        ("/api/v1/admin/audit?trust_id=%00", "trust_id"),
    ],
)
async def test_a_nul_in_a_path_or_query_parameter_is_422_naming_it(client, doubles, url, field):
    response = await client.get(url, headers=ADA)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert doubles.record.of("Authenticate") == []
