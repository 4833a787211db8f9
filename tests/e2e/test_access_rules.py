"""Who may see and do what with an incident, as one table, against the real stack.

One incident of Westfield Primary, recorded by a member of staff who alerts one
colleague. Each role, in that school and in another school of the same trust,
calls each endpoint; the table says what it must answer. Anything a role may not
see answers exactly what an unknown id answers (the same 404, body and all), so
that no one can probe for records.

The trust DSL is granted by the trust admin through the API
(POST /api/v1/admin/trusts/{id}/roles) and belongs to no school directly:
trust_dsl makes them a DSL of every school of the trust for reading. They are
not alerted to each incident: alerts go to the school's own DSLs and the staff
named, so a trust lead of many schools is not sent every school's alerts.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pyotp
import pytest

from .conftest import RunningStack
from .mailbox import mail_to, text_of, wait_for

STRONG = "correct horse battery staple lighthouse"
TOKEN_IN_LINK = re.compile(r"/reset-password\?token=([A-Za-z0-9_\-]+)")
TRUST, SCHOOL, OTHER_SCHOOL = "Westfield Learning Trust", "Westfield Primary", "Westfield High"
DOMAIN = "westfield.example"

OWN, OTHER = "own school", "other school"
AUTHOR, ALERTED, BYSTANDER = "staff-author", "staff-alerted", "staff-not-alerted"
STAFF, DSL, ADMIN, TRUST_ADMIN = "staff", "dsl", "admin", "trust_admin"
TRUST_DSL = "trust_dsl"

# Who is imported where, with which school role.
MEMBERS: dict[tuple[str, str], str] = {
    (AUTHOR, OWN): "staff",
    (ALERTED, OWN): "staff",
    (BYSTANDER, OWN): "staff",
    (DSL, OWN): "dsl",
    (ADMIN, OWN): "admin",
    (STAFF, OTHER): "staff",
    (DSL, OTHER): "dsl",
    (ADMIN, OTHER): "admin",
}


# --- the stack's people -----------------------------------------------------


def register(client: httpx.Client, stack: RunningStack, email: str) -> None:
    """First-time registration is a password reset, as staff know it."""
    before = len(mail_to(stack, email))
    reply = client.post("/api/v1/auth/password-reset", json={"email": email})
    assert reply.status_code == 202, reply.text
    message = wait_for(lambda: mail_to(stack, email)[before:])[-1]
    token = TOKEN_IN_LINK.search(text_of(message)).group(1)  # type: ignore[union-attr]
    reply = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": STRONG}
    )
    assert reply.status_code == 204, reply.text


def login(client: httpx.Client, email: str) -> dict[str, str]:
    reply = client.post("/api/v1/auth/login", json={"email": email, "password": STRONG})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def enrol_soft_key(client: httpx.Client, session: dict[str, str]) -> list[str]:
    """Enrol a soft key (codes from pyotp, as an authenticator app); the recovery codes."""
    setup = client.post("/api/v1/auth/totp/setup", json={"password": STRONG}, headers=session)
    assert setup.status_code == 200, setup.text
    code = pyotp.TOTP(setup.json()["secret"]).now()
    confirm = client.post("/api/v1/auth/totp/confirm", json={"code": code}, headers=session)
    assert confirm.status_code == 200, confirm.text
    return confirm.json()["recovery_codes"]


def elevated_session(client: httpx.Client, email: str, recovery_code: str) -> dict[str, str]:
    """A second session of the account, elevated (a recovery code needs no clock step)."""
    session = login(client, email)
    reply = client.post("/api/v1/auth/elevate", json={"code": recovery_code}, headers=session)
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


@dataclass
class Person:
    email: str
    plain: dict[str, str]
    elevated: dict[str, str]
    id: str = ""


@dataclass
class World:
    school_id: str
    other_school_id: str
    incident_id: str
    student_id: str
    people: dict[tuple[str, str], Person] = field(default_factory=dict)


@pytest.fixture(scope="module")
def client(running_stack: RunningStack):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=running_stack.base_url, timeout=30) as http:
        yield http


def person(client: httpx.Client, stack: RunningStack, email: str) -> Person:
    register(client, stack, email)
    plain = login(client, email)
    recovery = enrol_soft_key(client, plain)
    found = Person(email, plain, elevated_session(client, email, recovery[0]))
    found.id = client.get("/api/v1/me", headers=plain).json()["id"]
    return found


@pytest.fixture(scope="module")
def world(client: httpx.Client, running_stack: RunningStack) -> World:
    """Two schools of one trust, everyone registered with a soft key, and one incident."""
    admin_email = f"trust.admin@{DOMAIN}"
    result = running_stack.cli(
        "admin",
        "bootstrap",
        "--trust",
        TRUST,
        "--school",
        SCHOOL,
        "--admin-email",
        admin_email,
        "--admin-name",
        "Tess Trust",
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    trust_admin = person(client, running_stack, admin_email)

    other = client.post(
        "/api/v1/admin/schools",
        json={"trust_id": created["trust_id"], "name": OTHER_SCHOOL},
        headers=trust_admin.plain,
    )
    assert other.status_code == 201, other.text
    school_ids = {OWN: created["school_id"], OTHER: other.json()["id"]}

    trust_dsl_email = f"trust.dsl@{DOMAIN}"
    granted = client.post(
        f"/api/v1/admin/trusts/{created['trust_id']}/roles",
        json={"email": trust_dsl_email, "name": "Dana Trustwide", "role": "trust_dsl"},
        headers=trust_admin.plain,
    )
    assert granted.status_code == 201, granted.text
    assert granted.json()["account_created"] is True

    emails = {
        key: f"{key[0]}.{'own' if key[1] == OWN else 'other'}@{DOMAIN}".replace("_", "-")
        for key in MEMBERS
    }
    for where in (OWN, OTHER):
        rows = [
            {"email": emails[key], "name": f"{key[0].title()} {where.title()}", "role": role}
            for key, role in MEMBERS.items()
            if key[1] == where
        ]
        reply = client.post(
            f"/api/v1/admin/schools/{school_ids[where]}/staff",
            json={"items": rows},
            headers=trust_admin.plain,
        )
        assert reply.status_code == 200 and not reply.json()["errors"], reply.text

    pupils = client.post(
        f"/api/v1/admin/schools/{school_ids[OWN]}/students",
        json={
            "items": [
                {
                    "upn": "W123456789012",
                    "first_name": "Wren",
                    "last_name": "Hollis",
                    "year_group": "6",
                    "date_of_birth": "2015-02-11",
                }
            ]
        },
        headers=trust_admin.plain,
    )
    assert pupils.status_code == 200, pupils.text

    people = {key: person(client, running_stack, email) for key, email in emails.items()}
    people[(TRUST_ADMIN, OWN)] = trust_admin
    people[(TRUST_DSL, OWN)] = person(client, running_stack, trust_dsl_email)
    author = people[(AUTHOR, OWN)].plain

    [pupil] = client.get("/api/v1/students", params={"q": "wren"}, headers=author).json()["items"]
    categories = wait_for(lambda: client.get("/api/v1/categories", headers=author).json()["items"])
    recorded = client.post(
        "/api/v1/incidents",
        json={
            "student_id": pupil["id"],
            "description": "Wren had a bruise on her arm and would not say how.",
            "category_ids": [categories[0]["id"]],
            "alert_staff_ids": [people[(ALERTED, OWN)].id],
        },
        headers=author,
    )
    assert recorded.status_code == 201, recorded.text
    found = World(school_ids[OWN], school_ids[OTHER], recorded.json()["id"], pupil["id"], people)

    # The alerts arrive through NATS; the table reads them once they are all there.
    for key in ((ALERTED, OWN), (DSL, OWN)):
        wait_for(lambda key=key: alert_for(client, found, people[key].plain))
    return found


def alert_for(client: httpx.Client, world: World, session: dict[str, str]) -> list[dict]:
    alerts = client.get("/api/v1/alerts", headers=session)
    assert alerts.status_code == 200, alerts.text
    return [a for a in alerts.json()["items"] if a["incident_id"] == world.incident_id]


# --- the endpoints ------------------------------------------------------------

# Each takes (client, world, person, the id to ask about or None for the known one).
Call = Callable[[httpx.Client, World, Person, str | None], httpx.Response]


def get_incident(client: httpx.Client, world: World, who: Person, id_: str | None):
    return client.get(f"/api/v1/incidents/{id_ or world.incident_id}", headers=who.plain)


def get_views(client: httpx.Client, world: World, who: Person, id_: str | None):
    return client.get(f"/api/v1/incidents/{id_ or world.incident_id}/views", headers=who.plain)


def post_addendum(client: httpx.Client, world: World, who: Person, id_: str | None):
    return client.post(
        f"/api/v1/incidents/{id_ or world.incident_id}/addenda",
        json={"text": f"Follow-up from {who.email}."},
        headers=who.plain,
    )


def get_chronology(client: httpx.Client, world: World, who: Person, id_: str | None):
    return client.get(f"/api/v1/students/{id_ or world.student_id}/incidents", headers=who.plain)


def get_chronology_elevated(client: httpx.Client, world: World, who: Person, id_: str | None):
    return client.get(f"/api/v1/students/{id_ or world.student_id}/incidents", headers=who.elevated)


def get_alerts(client: httpx.Client, world: World, who: Person, id_: str | None):
    return client.get("/api/v1/alerts", headers=who.plain)


ENDPOINTS: dict[str, Call] = {
    "GET incident": get_incident,
    "GET views": get_views,
    "POST addenda": post_addendum,
    "GET chronology": get_chronology,
    "GET chronology (elevated)": get_chronology_elevated,
    "GET alerts": get_alerts,
}

# --- the table ----------------------------------------------------------------

F, E = "403 forbidden", "403 elevation_required"
LISTED, NOT_LISTED = "200 listed", "200 not listed"
COLUMNS = list(ENDPOINTS)
# fmt: off
TABLE: dict[tuple[str, str], tuple[str, ...]] = {
    #                     incident  views  addenda  chronology  chronology elevated  alerts
    (AUTHOR, OWN):        ("200",   F,     "201",   F,          F,                   NOT_LISTED),
    (ALERTED, OWN):       ("200",   F,     F,       F,          F,                   LISTED),
    (BYSTANDER, OWN):     ("404",   "404", "404",   F,          F,                   NOT_LISTED),
    (DSL, OWN):           ("200",   "200", "201",   E,          "200",               LISTED),
    (ADMIN, OWN):         ("404",   "404", "404",   F,          F,                   NOT_LISTED),
    (TRUST_ADMIN, OWN):   ("404",   "404", "404",   F,          F,                   NOT_LISTED),
    (TRUST_DSL, OWN):     ("200",   "200", "201",   E,          "200",               NOT_LISTED),
    (STAFF, OTHER):       ("404",   "404", "404",   "404",      "404",               NOT_LISTED),
    (DSL, OTHER):         ("404",   "404", "404",   "404",      "404",               NOT_LISTED),
    (ADMIN, OTHER):       ("404",   "404", "404",   "404",      "404",               NOT_LISTED),
}
# fmt: on
CASES = [
    pytest.param(role, where, endpoint, expected, id=f"{role}|{where}|{endpoint}")
    for (role, where), row in TABLE.items()
    for endpoint, expected in zip(COLUMNS, row, strict=True)
]


@pytest.mark.parametrize(("role", "where", "endpoint", "expected"), CASES)
def test_each_role_gets_what_the_access_table_says(
    client: httpx.Client, world: World, role: str, where: str, endpoint: str, expected: str
):
    who = world.people[(role, where)]
    call = ENDPOINTS[endpoint]
    reply = call(client, world, who, None)
    status, _, detail = expected.partition(" ")
    assert reply.status_code == int(status), reply.text

    if endpoint == "GET alerts":
        listed = [a for a in reply.json()["items"] if a["incident_id"] == world.incident_id]
        assert bool(listed) == (detail == "listed"), reply.text
    elif status == "403":
        assert reply.json()["code"] == detail, reply.text
    elif status == "404":
        # Exactly what an id that does not exist answers: nothing to tell them apart.
        unknown = call(client, world, who, str(uuid.uuid4()))
        assert unknown.status_code == 404, unknown.text
        assert reply.json() == unknown.json()
        assert reply.headers["content-type"] == unknown.headers["content-type"]
    elif endpoint == "GET incident":
        assert reply.json()["id"] == world.incident_id
    elif endpoint == "POST addenda":
        assert reply.json()["author"]["id"] == who.id
    elif endpoint == "GET chronology (elevated)":
        assert world.incident_id in [i["id"] for i in reply.json()["items"]]


# --- what the table's rows leave behind ----------------------------------------


def test_addenda_are_listed_in_order_under_the_incident_which_itself_never_changes(
    client: httpx.Client, world: World
):
    author, dsl = world.people[(AUTHOR, OWN)], world.people[(DSL, OWN)]
    before = client.get(f"/api/v1/incidents/{world.incident_id}", headers=author.plain).json()
    for who, text in ((author, "Correction: the left arm."), (dsl, "Spoke to the family.")):
        reply = client.post(
            f"/api/v1/incidents/{world.incident_id}/addenda", json={"text": text}, headers=who.plain
        )
        assert reply.status_code == 201, reply.text
    after = client.get(f"/api/v1/incidents/{world.incident_id}", headers=author.plain).json()
    assert [(a["text"], a["author"]["id"]) for a in after["addenda"][-2:]] == [
        ("Correction: the left arm.", author.id),
        ("Spoke to the family.", dsl.id),
    ]
    assert after["addenda"][: len(before["addenda"])] == before["addenda"]
    assert {k: v for k, v in after.items() if k != "addenda"} == {
        k: v for k, v in before.items() if k != "addenda"
    }


def test_a_bad_addendum_is_422_naming_the_field(client: httpx.Client, world: World):
    author = world.people[(AUTHOR, OWN)]
    for body in ({"text": ""}, {"text": "x" * 20_001}, {"text": "ok", "extra": 1}):
        reply = client.post(
            f"/api/v1/incidents/{world.incident_id}/addenda", json=body, headers=author.plain
        )
        assert (reply.status_code, reply.json()["code"]) == (422, "validation_failed"), reply.text
        assert reply.json()["errors"]


def test_every_read_of_the_incident_is_in_its_trail_with_who_and_from_where(
    client: httpx.Client, world: World
):
    alerted, dsl = world.people[(ALERTED, OWN)], world.people[(DSL, OWN)]
    assert (
        client.get(f"/api/v1/incidents/{world.incident_id}", headers=alerted.plain).status_code
        == 200
    )
    views = client.get(f"/api/v1/incidents/{world.incident_id}/views?limit=100", headers=dsl.plain)
    assert views.status_code == 200, views.text
    readers = {(v["user"]["id"], v["action"]) for v in views.json()["items"]}
    assert (alerted.id, "viewed") in readers
    assert all(v["at"] and v["client_address"] for v in views.json()["items"])
    # A bystander's refused read is no view.
    assert world.people[(BYSTANDER, OWN)].id not in {u for u, _ in readers}


def test_a_retired_category_is_no_longer_offered_but_past_incidents_keep_it(
    client: httpx.Client, world: World
):
    admin, author = world.people[(ADMIN, OWN)], world.people[(AUTHOR, OWN)]
    categories = f"/api/v1/admin/schools/{world.school_id}/categories"
    created = client.post(categories, json={"name": "Water safety"}, headers=admin.plain)
    assert created.status_code == 201, created.text
    category = created.json()
    recorded = client.post(
        "/api/v1/incidents",
        json={
            "student_id": world.student_id,
            "description": "Wren went into the river at lunch.",
            "category_ids": [category["id"]],
        },
        headers=author.plain,
    )
    assert recorded.status_code == 201, recorded.text

    for who, status in (
        (author, 403),
        (world.people[(ADMIN, OTHER)], 404),
    ):
        reply = client.delete(f"{categories}/{category['id']}", headers=who.plain)
        assert reply.status_code == status, reply.text
    unknown = client.delete(f"{categories}/{uuid.uuid4()}", headers=admin.plain)
    assert unknown.status_code == 404, unknown.text
    retired = client.delete(f"{categories}/{category['id']}", headers=admin.plain)
    assert retired.status_code == 204, retired.text

    offered = client.get("/api/v1/categories", headers=author.plain).json()["items"]
    assert category["id"] not in [c["id"] for c in offered]
    kept = client.get(f"/api/v1/incidents/{recorded.json()['id']}", headers=author.plain).json()
    assert kept["categories"] == [category]


def test_a_retired_agency_is_no_longer_offered(client: httpx.Client, world: World):
    admin, author = world.people[(ADMIN, OWN)], world.people[(AUTHOR, OWN)]
    agencies = f"/api/v1/admin/schools/{world.school_id}/agencies"
    created = client.post(agencies, json={"name": "Lifeguards"}, headers=admin.plain)
    assert created.status_code == 201, created.text
    agency_id = created.json()["id"]
    assert client.delete(f"{agencies}/{agency_id}", headers=author.plain).status_code == 403
    assert client.delete(f"{agencies}/{agency_id}", headers=admin.plain).status_code == 204
    offered = client.get("/api/v1/agencies", headers=author.plain).json()["items"]
    assert agency_id not in [a["id"] for a in offered]
