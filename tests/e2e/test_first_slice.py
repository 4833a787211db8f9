"""The first slice, end to end over HTTP against the real stack.

bootstrap -> admin imports staff and pupils -> reset email -> strong password ->
login -> /me -> students and categories -> record an incident -> each alerted
member of staff and each DSL sees the alert and gets an email naming no pupil.
"""

from __future__ import annotations

import json
import re

import httpx
import pytest

from .conftest import RunningStack
from .mailbox import mail_to, text_of, wait_for

STRONG = "correct horse battery staple lighthouse"
TOKEN_IN_LINK = re.compile(r"/reset-password\?token=([A-Za-z0-9_\-]+)")


def register(client: httpx.Client, stack: RunningStack, email: str, password: str = STRONG) -> None:
    """First-time registration is a password reset, as staff know it."""
    before = len(mail_to(stack, email))
    reply = client.post("/api/v1/auth/password-reset", json={"email": email})
    assert reply.status_code == 202, reply.text
    message = wait_for(lambda: mail_to(stack, email)[before:])[-1]
    token = TOKEN_IN_LINK.search(text_of(message)).group(1)  # type: ignore[union-attr]
    reply = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": password}
    )
    assert reply.status_code == 204, reply.text


def login(client: httpx.Client, email: str, password: str = STRONG) -> dict[str, str]:
    reply = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


@pytest.fixture(scope="module")
def client(running_stack: RunningStack):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=running_stack.base_url, timeout=15) as http:
        yield http


@pytest.fixture(scope="module")
def school(running_stack: RunningStack) -> dict[str, str]:
    result = running_stack.cli(
        "admin",
        "bootstrap",
        "--trust",
        "Northfield Learning Trust",
        "--school",
        "Northfield Primary",
        "--admin-email",
        "ada.admin@northfield.example",
        "--admin-name",
        "Ada Admin",
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_health_and_readiness_answer_without_authentication(client: httpx.Client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_bootstrap_twice_returns_the_same_trust_school_and_admin(
    running_stack: RunningStack, school
):  # type: ignore[no-untyped-def]
    again = running_stack.cli(
        "admin",
        "bootstrap",
        "--trust",
        "Northfield Learning Trust",
        "--school",
        "Northfield Primary",
        "--admin-email",
        "ada.admin@northfield.example",
        "--admin-name",
        "Ada Admin",
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == school


def test_a_bad_bootstrap_argument_exits_non_zero_with_one_line(running_stack: RunningStack):
    result = running_stack.cli(
        "admin", "bootstrap", "--trust", "T", "--school", "S", "--admin-email", "nope"
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--admin-email" in result.stderr


def test_a_password_rated_below_strong_is_refused_and_the_link_still_works(
    client: httpx.Client, running_stack: RunningStack, school: dict[str, str]
):
    email = "ada.admin@northfield.example"
    assert client.post("/api/v1/auth/password-reset", json={"email": email}).status_code == 202
    message = wait_for(lambda: mail_to(running_stack, email))[-1]
    token = TOKEN_IN_LINK.search(text_of(message)).group(1)  # type: ignore[union-attr]
    weak = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "password1234"}
    )
    assert weak.status_code == 422
    assert weak.headers["content-type"].startswith("application/problem+json")
    assert weak.json()["code"] == "weak_password"
    assert weak.json()["strength"]["acceptable"] is False
    ok = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": STRONG}
    )
    assert ok.status_code == 204
    spent = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": STRONG}
    )
    assert spent.status_code == 410 and spent.json()["code"] == "invalid_token"


def test_the_whole_first_slice(
    client: httpx.Client, running_stack: RunningStack, school: dict[str, str]
):
    school_id = school["school_id"]
    admin_email = "ada.admin@northfield.example"
    if (
        client.post(
            "/api/v1/auth/login", json={"email": admin_email, "password": STRONG}
        ).status_code
        != 200
    ):
        register(client, running_stack, admin_email)
    admin = login(client, admin_email)

    # The admin imports staff (JSON and CSV) and pupils (JSON and CSV).
    staff = client.post(
        f"/api/v1/admin/schools/{school_id}/staff",
        json={
            "items": [
                {"email": "tom.teacher@northfield.example", "name": "Tom Teacher", "role": "staff"},
                {"email": "dina.dsl@northfield.example", "name": "Dina Lead", "role": "dsl"},
            ]
        },
        headers=admin,
    )
    assert staff.status_code == 200, staff.text
    assert staff.json()["created"] == 2
    csv_staff = client.post(
        f"/api/v1/admin/schools/{school_id}/staff",
        content="email,name,role\nsam.support@northfield.example,Sam Support,staff\nnot-an-email,Bad Row,staff\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert csv_staff.status_code == 200, csv_staff.text
    assert csv_staff.json()["created"] == 1
    assert csv_staff.json()["errors"][0]["line"] == 3

    pupils = client.post(
        f"/api/v1/admin/schools/{school_id}/students",
        json={
            "items": [
                {
                    "upn": "A123456789012",
                    "first_name": "Zoë",
                    "last_name": "Marsh",
                    "year_group": "4",
                    "date_of_birth": "2017-03-14",
                },
                {
                    "upn": "B123456789012",
                    "first_name": "Joseph",
                    "last_name": "Smith",
                    "year_group": "5",
                    "date_of_birth": "2016-01-02",
                },
            ]
        },
        headers=admin,
    )
    assert pupils.status_code == 200, pupils.text
    assert pupils.json()["created"] == 2
    csv_pupils = client.post(
        f"/api/v1/admin/schools/{school_id}/students",
        content="upn,first_name,last_name,year_group,date_of_birth\n"
        "C123456789012,Kit,Larch,6,2015-09-30\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert csv_pupils.status_code == 200, csv_pupils.text
    assert csv_pupils.json()["created"] == 1

    # Staff register through the reset email, with a strong password, and log in.
    for email in (
        "tom.teacher@northfield.example",
        "dina.dsl@northfield.example",
        "sam.support@northfield.example",
    ):
        register(client, running_stack, email)
    teacher = login(client, "tom.teacher@northfield.example")
    dsl = login(client, "dina.dsl@northfield.example")
    support = login(client, "sam.support@northfield.example")

    me = client.get("/api/v1/me", headers=teacher)
    assert me.status_code == 200
    assert me.json()["email"] == "tom.teacher@northfield.example"
    [membership] = me.json()["memberships"]
    assert membership["school_id"] == school_id
    assert membership["school_name"] == "Northfield Primary"
    assert membership["role"] == "staff"

    found = client.get("/api/v1/students", params={"q": "zoe"}, headers=teacher)
    assert found.status_code == 200
    zoe = found.json()["items"][0]
    assert zoe["display_name"] == "Zoë Marsh"
    assert (
        client.get("/api/v1/students", params={"q": "smith j"}, headers=teacher).json()["items"][0][
            "last_name"
        ]
        == "Smith"
    )

    categories = wait_for(lambda: client.get("/api/v1/categories", headers=teacher).json()["items"])
    bullying = next(c for c in categories if c["name"].lower() == "bullying")
    staff_list = client.get("/api/v1/staff", headers=teacher).json()["items"]
    sam_id = next(s["id"] for s in staff_list if s["email"] == "sam.support@northfield.example")

    recorded = client.post(
        "/api/v1/incidents",
        json={
            "student_id": zoe["id"],
            "description": "Zoë said an older pupil took her lunch again at break.",
            "category_ids": [bullying["id"]],
            "alert_staff_ids": [sam_id],
        },
        headers={**teacher, "Idempotency-Key": "first-slice-1"},
    )
    assert recorded.status_code == 201, recorded.text
    incident = recorded.json()
    assert incident["student"]["display_name"] == "Zoë Marsh"
    assert [c["name"] for c in incident["categories"]] == [bullying["name"]]

    # Every alerted member of staff and every DSL sees the alert on their dashboard.
    for who in (support, dsl):
        alerts = wait_for(
            lambda who=who: [
                a
                for a in client.get("/api/v1/alerts", headers=who).json()["items"]
                if a["incident_id"] == incident["id"]
            ]
        )
        assert len(alerts) == 1
        assert alerts[0]["student"]["display_name"] == "Zoë Marsh"
        assert alerts[0]["read_at"] is None
    # The author was not alerted.
    assert not [
        a
        for a in client.get("/api/v1/alerts", headers=teacher).json()["items"]
        if a["incident_id"] == incident["id"]
    ]

    # Each gets an email of their own that names no pupil and quotes nothing.
    for address in ("sam.support@northfield.example", "dina.dsl@northfield.example"):
        alert_mail = wait_for(
            lambda address=address: [
                m
                for m in mail_to(running_stack, address)
                if "Northfield Primary" in text_of(m) and "incident" in text_of(m)
            ]
        )
        assert len(alert_mail) == 1
        body = text_of(alert_mail[0])
        assert str(alert_mail[0]["To"]).count("@") == 1
        for secret in ("Zoë", "Zoe", "Marsh", "lunch", "older pupil"):
            assert secret not in body and secret not in str(alert_mail[0]["Subject"])

    # The DSL can read it; marking the alert read is the DSL's own business.
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=dsl).status_code == 200
    dsl_alert = next(
        a
        for a in client.get("/api/v1/alerts", headers=dsl).json()["items"]
        if a["incident_id"] == incident["id"]
    )
    assert client.post(f"/api/v1/alerts/{dsl_alert['id']}/read", headers=support).status_code == 404
    assert client.post(f"/api/v1/alerts/{dsl_alert['id']}/read", headers=dsl).status_code == 204

    # The same Idempotency-Key returns the same incident, never a second.
    again = client.post(
        "/api/v1/incidents",
        json={
            "student_id": zoe["id"],
            "description": "Zoë said an older pupil took her lunch again at break.",
            "category_ids": [bullying["id"]],
            "alert_staff_ids": [sam_id],
        },
        headers={**teacher, "Idempotency-Key": "first-slice-1"},
    )
    assert again.status_code in (200, 201)
    assert again.json()["id"] == incident["id"]


def test_a_cookie_session_needs_the_csrf_token_for_unsafe_requests(
    client: httpx.Client, running_stack: RunningStack, school: dict[str, str]
):
    admin_email = "ada.admin@northfield.example"
    if (
        client.post(
            "/api/v1/auth/login", json={"email": admin_email, "password": STRONG}
        ).status_code
        != 200
    ):
        register(client, running_stack, admin_email)
    with httpx.Client(base_url=running_stack.base_url, timeout=15) as browser:
        reply = browser.post("/api/v1/auth/login", json={"email": admin_email, "password": STRONG})
        assert reply.status_code == 200
        assert "haven_session" in browser.cookies
        csrf = reply.json()["csrf_token"]
        assert browser.get("/api/v1/me").status_code == 200
        refused = browser.post(
            f"/api/v1/admin/schools/{school['school_id']}/staff", json={"items": []}
        )
        assert refused.status_code == 403
        accepted = browser.post(
            f"/api/v1/admin/schools/{school['school_id']}/staff",
            json={"items": []},
            headers={"X-CSRF-Token": csrf},
        )
        assert accepted.status_code == 200
        assert (
            browser.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        )
        assert browser.get("/api/v1/me").status_code == 401
