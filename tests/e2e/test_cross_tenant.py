"""Cross-tenant: nothing of another trust, or of a school one's role does not reach, leaks.

Two trusts (A and B), two schools each, every role in each: staff, dsl and admin
of every school, and a trust_dsl and a trust_admin of every trust. Each school
has pupils, a category, an agency, an incident with a file attached, a staged
file, a DSL's alert, an addendum and live sessions.

Every role of trust A then calls every endpoint that takes an id (in the path,
the query or the body) with the ids of trust B's schools, and, for the school
roles of school A1, with those of school A2 (which they do not reach). Each
attempt is made twice: with the other tenant's real ids, and with fresh unknown
ids in their place. The answer passes if it is exactly what the unknown ids get
(the same status and body), or a 403/404/422 that names nothing of the other
tenant (no id, name, description or pupil data). List endpoints pass if they
hold nothing of the other tenant. Writes are checked by the rightful owners:
everything they read before the attempts reads the same afterwards.

The table of attempts is printed (`pytest -s` shows it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from .conftest import RunningStack
from .mailbox import wait_for
from .test_access_rules import Person, person

# Invented, distinctive words per school, so that any of them in a body is a leak.
SCHOOL_WORDS = {
    "A1": ("Ashdown", "Pellory", "Quennell"),
    "A2": ("Alderwick", "Marrowby", "Tansley"),
    "B1": ("Brackwater", "Ondrey", "Vessamine"),
    "B2": ("Bellhaven", "Corvantis", "Wyndle"),
}
TRUSTS = {"A": ("A1", "A2"), "B": ("B1", "B2")}
TRUST_WORDS = {"A": "Kestrelmoor", "B": "Fenwhistle"}
SCHOOL_ROLES = ("staff", "dsl", "admin")
TRUST_ROLES = ("trust_dsl", "trust_admin")
ATTACKERS = (
    ("staff", "A1"),
    ("dsl", "A1"),
    ("admin", "A1"),
    ("trust_dsl", "A"),
    ("trust_admin", "A"),
)


@dataclass
class Ids:
    """Every id a school's records have; `unknown()` gives the same shape, all made up."""

    school_id: str
    trust_id: str
    student_id: str
    linked_student_id: str
    incident_id: str
    file_id: str
    staged_file_id: str
    alert_id: str
    addendum_id: str
    category_id: str
    agency_id: str
    staff_user_id: str
    dsl_user_id: str
    admin_user_id: str
    trust_dsl_user_id: str
    trust_admin_user_id: str
    session_id: str
    idempotency_key: str  # not an id, but the author's own: it must not reach their incident
    pupil_surname: str = ""  # not an id: what a search types; the unknown ids keep it

    def unknown(self) -> Ids:
        made_up = {f.name: str(uuid.uuid4()) for f in dataclasses.fields(self)}
        return Ids(**made_up | {"pupil_surname": self.pupil_surname})

    def values(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "pupil_surname"}


@dataclass
class School:
    key: str
    trust: str
    id: str
    name: str
    people: dict[str, Person] = field(default_factory=dict)
    ids: Ids | None = None
    secrets: set[str] = field(default_factory=set)


@dataclass
class Trust:
    key: str
    id: str
    name: str
    people: dict[str, Person] = field(default_factory=dict)
    secrets: set[str] = field(default_factory=set)


@dataclass
class World:
    schools: dict[str, School]
    trusts: dict[str, Trust]

    def attacker(self, role: str, where: str) -> Person:
        if where in self.trusts:
            return self.trusts[where].people[role]
        return self.schools[where].people[role]


@pytest.fixture(scope="module")
def client(running_stack: RunningStack):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=running_stack.base_url, timeout=30) as http:
        yield http


def email(role: str, where: str) -> str:
    return f"{role.replace('_', '-')}.{where.lower()}@xt-{where[0].lower()}.example"


def ok(reply: httpx.Response, status: int = 200) -> Any:
    assert reply.status_code == status, f"{reply.request.method} {reply.request.url}: {reply.text}"
    return reply.json() if reply.content else None


def build_trust(client: httpx.Client, stack: RunningStack, key: str) -> tuple[Trust, list[School]]:
    first, second = TRUSTS[key]
    trust_name = f"{TRUST_WORDS[key]} Learning Trust"
    names = {s: f"{SCHOOL_WORDS[s][0]} Academy" for s in (first, second)}
    admin_email = email("trust_admin", key)
    result = stack.cli(
        "admin", "bootstrap", "--trust", trust_name, "--school", names[first],
        "--admin-email", admin_email, "--admin-name", f"{SCHOOL_WORDS[first][1]} Trustadmin",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    trust = Trust(key, created["trust_id"], trust_name)
    trust.people["trust_admin"] = person(client, stack, admin_email)
    boss = trust.people["trust_admin"].plain

    second_school = ok(
        client.post(
            "/api/v1/admin/schools",
            json={"trust_id": trust.id, "name": names[second]},
            headers=boss,
        ),
        201,
    )
    schools = [
        School(first, key, created["school_id"], names[first]),
        School(second, key, second_school["id"], names[second]),
    ]
    dsl_email = email("trust_dsl", key)
    ok(
        client.post(
            f"/api/v1/admin/trusts/{trust.id}/roles",
            json={
                "email": dsl_email,
                "name": f"{SCHOOL_WORDS[first][2]} Trustlead",
                "role": "trust_dsl",
            },
            headers=boss,
        ),
        201,
    )
    trust.people["trust_dsl"] = person(client, stack, dsl_email)

    for school in schools:
        words = SCHOOL_WORDS[school.key]
        rows = [
            {"email": email(role, school.key), "name": f"{words[1]} {role.title()}", "role": role}
            for role in SCHOOL_ROLES
        ]
        answer = ok(
            client.post(
                f"/api/v1/admin/schools/{school.id}/staff", json={"items": rows}, headers=boss
            )
        )
        assert not answer["errors"], answer
        pupils = [
            {
                "upn": f"{school.key}{n}{uuid.uuid4().int % 10**10:010d}",
                "first_name": f"{words[2]}{'ia' if n == 1 else 'o'}",
                "last_name": words[1],
                "year_group": "5",
                "date_of_birth": "2016-03-0" + str(n),
            }
            for n in (1, 2)
        ]
        answer = ok(
            client.post(
                f"/api/v1/admin/schools/{school.id}/students",
                json={"items": pupils},
                headers=boss,
            )
        )
        assert not answer["errors"], answer
        for row in pupils:
            school.secrets |= {row["upn"], row["first_name"], row["last_name"]}
        school.secrets |= {school.name, words[0], words[1], words[2]}
        school.secrets |= {row["email"] for row in rows}
        for role in SCHOOL_ROLES:
            school.people[role] = person(client, stack, email(role, school.key))
    # Known within the trust, secret outside it.
    trust.secrets = {trust.id, trust_name, TRUST_WORDS[key]}
    trust.secrets |= {p.email for p in trust.people.values()} | {
        p.id for p in trust.people.values()
    }
    return trust, schools


def fill_school(client: httpx.Client, trust: Trust, school: School) -> None:
    """A category, an agency, an incident with a file, a staged file, an alert, an addendum."""
    words = SCHOOL_WORDS[school.key]
    staff, dsl, admin = (school.people[r] for r in SCHOOL_ROLES)
    sid = {"school_id": school.id}
    category = ok(
        client.post(
            f"/api/v1/admin/schools/{school.id}/categories",
            json={"name": f"{words[0]} category"},
            headers=admin.plain,
        ),
        201,
    )
    agency = ok(
        client.post(
            f"/api/v1/admin/schools/{school.id}/agencies",
            json={"name": f"{words[0]} agency"},
            headers=admin.plain,
        ),
        201,
    )
    pupils = ok(client.get("/api/v1/students", params={"q": words[2]}, headers=staff.plain))
    by_name = {p["first_name"]: p for p in pupils["items"]}
    student, linked = by_name[f"{words[2]}ia"], by_name[f"{words[2]}o"]

    def upload(name: str) -> dict[str, Any]:
        body = f"Notes of {words[1]} about {words[2]}.\n".encode() * 20
        return ok(
            client.post(
                "/api/v1/files",
                params=sid,
                files={"file": (name, body, "text/plain")},
                headers=staff.plain,
            ),
            201,
        )

    attached, staged = upload(f"{words[0]}-attached.txt"), upload(f"{words[0]}-staged.txt")
    description = f"{words[2]}ia {words[1]} told {words[0]} staff about home."
    idempotency_key = f"xt-{school.key}-{uuid.uuid4()}"
    incident = ok(
        client.post(
            "/api/v1/incidents",
            json={
                "school_id": school.id,
                "student_id": student["id"],
                "description": description,
                "category_ids": [category["id"]],
                "linked_student_ids": [linked["id"]],
                "agency_ids": [agency["id"]],
                "file_ids": [attached["id"]],
            },
            headers=staff.plain | {"Idempotency-Key": idempotency_key},
        ),
        201,
    )
    addendum_text = f"{words[0]} follow-up: {words[2]}ia is safe."
    addendum = ok(
        client.post(
            f"/api/v1/incidents/{incident['id']}/addenda",
            json={"text": addendum_text},
            headers=dsl.plain,
        ),
        201,
    )

    def dsl_alert() -> list[dict[str, Any]]:
        items = ok(client.get("/api/v1/alerts", headers=dsl.plain))["items"]
        return [a for a in items if a["incident_id"] == incident["id"]]

    [alert] = wait_for(dsl_alert)

    def file_attached() -> bool:
        # The files service attaches the file when it handles the incident's
        # event: wait, so that the owners' view below does not change under us.
        incident_now = ok(client.get(f"/api/v1/incidents/{incident['id']}", headers=dsl.plain))
        return all(f["filename"] is not None for f in incident_now["files"])

    wait_for(file_attached)
    [session] = [
        s
        for s in ok(client.get("/api/v1/auth/sessions", headers=staff.plain))["items"]
        if s["current"]
    ]
    school.ids = Ids(
        school_id=school.id,
        trust_id=trust.id,
        student_id=student["id"],
        linked_student_id=linked["id"],
        incident_id=incident["id"],
        file_id=attached["id"],
        staged_file_id=staged["id"],
        alert_id=alert["id"],
        addendum_id=addendum["id"],
        category_id=category["id"],
        agency_id=agency["id"],
        staff_user_id=staff.id,
        dsl_user_id=dsl.id,
        admin_user_id=admin.id,
        trust_dsl_user_id=trust.people["trust_dsl"].id,
        trust_admin_user_id=trust.people["trust_admin"].id,
        session_id=session["id"],
        idempotency_key=idempotency_key,
        pupil_surname=words[1],
    )
    trust_wide = {school.ids.trust_id, school.ids.trust_dsl_user_id, school.ids.trust_admin_user_id}
    school.secrets |= set(school.ids.values().values()) - trust_wide
    school.secrets |= {description, addendum_text, attached["filename"], staged["filename"]}
    school.secrets |= {category["name"], agency["name"], attached["sha256"], staged["sha256"]}
    school.secrets |= {p.email for p in school.people.values()}


@pytest.fixture(scope="module")
def world(client: httpx.Client, running_stack: RunningStack) -> World:
    trusts: dict[str, Trust] = {}
    schools: dict[str, School] = {}
    for key in TRUSTS:
        trust, built = build_trust(client, running_stack, key)
        trusts[key] = trust
        schools |= {s.key: s for s in built}
    for school in schools.values():
        fill_school(client, trusts[school.trust], school)
    return World(schools, trusts)


# --- the attempts ---------------------------------------------------------------


@dataclass
class Ctx:
    client: httpx.Client
    who: Person
    own: School  # a school the attacker reaches (A1 for everyone here)


Probe = Callable[[Ctx, Ids], httpx.Response]


def incident_body(ctx: Ctx, **override: Any) -> dict[str, Any]:
    own = ctx.own.ids
    assert own is not None
    body = {
        "school_id": own.school_id,
        "student_id": own.student_id,
        "description": "A probe from another tenant.",
        "category_ids": [own.category_id],
    }
    return body | override


def h(ctx: Ctx) -> dict[str, str]:
    return ctx.who.elevated


PROBES: dict[str, Probe] = {
    "GET /incidents/{incident_id}": lambda c, i: c.client.get(
        f"/api/v1/incidents/{i.incident_id}", headers=h(c)
    ),
    "GET /incidents/{incident_id}/views": lambda c, i: c.client.get(
        f"/api/v1/incidents/{i.incident_id}/views", headers=h(c)
    ),
    "POST /incidents/{incident_id}/addenda": lambda c, i: c.client.post(
        f"/api/v1/incidents/{i.incident_id}/addenda", json={"text": "Intruding."}, headers=h(c)
    ),
    "GET /students/{student_id}/incidents": lambda c, i: c.client.get(
        f"/api/v1/students/{i.student_id}/incidents", headers=c.who.plain
    ),
    "GET /students/{student_id}/incidents (elevated)": lambda c, i: c.client.get(
        f"/api/v1/students/{i.student_id}/incidents", headers=h(c)
    ),
    "GET /students/{linked_student_id}/incidents (elevated)": lambda c, i: c.client.get(
        f"/api/v1/students/{i.linked_student_id}/incidents", headers=h(c)
    ),
    "POST /alerts/{alert_id}/read": lambda c, i: c.client.post(
        f"/api/v1/alerts/{i.alert_id}/read", headers=h(c)
    ),
    "GET /files/{file_id}/content (attached)": lambda c, i: c.client.get(
        f"/api/v1/files/{i.file_id}/content", headers=h(c)
    ),
    "GET /files/{file_id}/content (staged)": lambda c, i: c.client.get(
        f"/api/v1/files/{i.staged_file_id}/content", headers=h(c)
    ),
    "DELETE /auth/sessions/{session_id}": lambda c, i: c.client.delete(
        f"/api/v1/auth/sessions/{i.session_id}", headers=h(c)
    ),
    "GET /students?school_id=": lambda c, i: c.client.get(
        "/api/v1/students", params={"school_id": i.school_id, "q": i.pupil_surname}, headers=h(c)
    ),
    "GET /staff?school_id=": lambda c, i: c.client.get(
        "/api/v1/staff", params={"school_id": i.school_id}, headers=h(c)
    ),
    "GET /categories?school_id=": lambda c, i: c.client.get(
        "/api/v1/categories", params={"school_id": i.school_id}, headers=h(c)
    ),
    "GET /agencies?school_id=": lambda c, i: c.client.get(
        "/api/v1/agencies", params={"school_id": i.school_id}, headers=h(c)
    ),
    "POST /files?school_id=": lambda c, i: c.client.post(
        "/api/v1/files",
        params={"school_id": i.school_id},
        files={"file": ("probe.txt", b"A probe from another tenant.\n" * 10, "text/plain")},
        headers=h(c),
    ),
    "POST /incidents school_id": lambda c, i: c.client.post(
        "/api/v1/incidents",
        json=incident_body(
            c, school_id=i.school_id, student_id=i.student_id, category_ids=[i.category_id]
        ),
        headers=h(c),
    ),
    "POST /incidents student_id": lambda c, i: c.client.post(
        "/api/v1/incidents", json=incident_body(c, student_id=i.student_id), headers=h(c)
    ),
    "POST /incidents linked_student_ids": lambda c, i: c.client.post(
        "/api/v1/incidents",
        json=incident_body(c, linked_student_ids=[i.linked_student_id]),
        headers=h(c),
    ),
    "POST /incidents category_ids": lambda c, i: c.client.post(
        "/api/v1/incidents", json=incident_body(c, category_ids=[i.category_id]), headers=h(c)
    ),
    "POST /incidents agency_ids": lambda c, i: c.client.post(
        "/api/v1/incidents", json=incident_body(c, agency_ids=[i.agency_id]), headers=h(c)
    ),
    "POST /incidents alert_staff_ids": lambda c, i: c.client.post(
        "/api/v1/incidents",
        json=incident_body(c, alert_staff_ids=[i.staff_user_id]),
        headers=h(c),
    ),
    "POST /incidents file_ids (staged)": lambda c, i: c.client.post(
        "/api/v1/incidents", json=incident_body(c, file_ids=[i.staged_file_id]), headers=h(c)
    ),
    "POST /incidents file_ids (attached)": lambda c, i: c.client.post(
        "/api/v1/incidents", json=incident_body(c, file_ids=[i.file_id]), headers=h(c)
    ),
    "POST /incidents Idempotency-Key": lambda c, i: c.client.post(
        "/api/v1/incidents",
        json=incident_body(c),
        headers=h(c) | {"Idempotency-Key": i.idempotency_key},
    ),
    "POST /admin/schools trust_id": lambda c, i: c.client.post(
        "/api/v1/admin/schools",
        json={"trust_id": i.trust_id, "name": "Intruder Academy"},
        headers=h(c),
    ),
    "POST /admin/schools/{school_id}/staff": lambda c, i: c.client.post(
        f"/api/v1/admin/schools/{i.school_id}/staff",
        json={"items": [{"email": c.who.email, "name": "Intruder", "role": "admin"}]},
        headers=h(c),
    ),
    "POST /admin/schools/{school_id}/students": lambda c, i: c.client.post(
        f"/api/v1/admin/schools/{i.school_id}/students",
        json={
            "items": [
                {
                    "upn": "X999999999999",
                    "first_name": "Intruder",
                    "last_name": "Pupil",
                    "year_group": "5",
                    "date_of_birth": "2016-01-01",
                }
            ]
        },
        headers=h(c),
    ),
    "POST /admin/schools/{school_id}/categories": lambda c, i: c.client.post(
        f"/api/v1/admin/schools/{i.school_id}/categories",
        json={"name": "Intruder category"},
        headers=h(c),
    ),
    "POST /admin/schools/{school_id}/agencies": lambda c, i: c.client.post(
        f"/api/v1/admin/schools/{i.school_id}/agencies",
        json={"name": "Intruder agency"},
        headers=h(c),
    ),
    "DELETE /admin/schools/{school_id}/categories/{category_id}": lambda c, i: c.client.delete(
        f"/api/v1/admin/schools/{i.school_id}/categories/{i.category_id}", headers=h(c)
    ),
    "DELETE /admin/schools/{own}/categories/{category_id}": lambda c, i: c.client.delete(
        f"/api/v1/admin/schools/{c.own.id}/categories/{i.category_id}", headers=h(c)
    ),
    "DELETE /admin/schools/{school_id}/agencies/{agency_id}": lambda c, i: c.client.delete(
        f"/api/v1/admin/schools/{i.school_id}/agencies/{i.agency_id}", headers=h(c)
    ),
    "DELETE /admin/schools/{own}/agencies/{agency_id}": lambda c, i: c.client.delete(
        f"/api/v1/admin/schools/{c.own.id}/agencies/{i.agency_id}", headers=h(c)
    ),
    "POST /admin/users/{user_id}/unlock": lambda c, i: c.client.post(
        f"/api/v1/admin/users/{i.staff_user_id}/unlock", headers=h(c)
    ),
    "POST /admin/users/{user_id}/totp/reset": lambda c, i: c.client.post(
        f"/api/v1/admin/users/{i.dsl_user_id}/totp/reset", headers=h(c)
    ),
    "POST /admin/users/{user_id}/disable": lambda c, i: c.client.post(
        f"/api/v1/admin/users/{i.staff_user_id}/disable", headers=h(c)
    ),
    "POST /admin/users/{user_id}/enable": lambda c, i: c.client.post(
        f"/api/v1/admin/users/{i.staff_user_id}/enable", headers=h(c)
    ),
    "POST /admin/users/{trust_dsl}/disable": lambda c, i: c.client.post(
        f"/api/v1/admin/users/{i.trust_dsl_user_id}/disable", headers=h(c)
    ),
    "DELETE /admin/schools/{school_id}/staff/{user_id}": lambda c, i: c.client.delete(
        f"/api/v1/admin/schools/{i.school_id}/staff/{i.staff_user_id}", headers=h(c)
    ),
    "DELETE /admin/schools/{own}/staff/{user_id}": lambda c, i: c.client.delete(
        f"/api/v1/admin/schools/{c.own.id}/staff/{i.staff_user_id}", headers=h(c)
    ),
    "POST /admin/trusts/{trust_id}/roles": lambda c, i: c.client.post(
        f"/api/v1/admin/trusts/{i.trust_id}/roles",
        json={"email": c.who.email, "name": "Intruder", "role": "trust_admin"},
        headers=h(c),
    ),
    "DELETE /admin/trusts/{trust_id}/roles/trust_dsl/{user_id}": lambda c, i: c.client.delete(
        f"/api/v1/admin/trusts/{i.trust_id}/roles/trust_dsl/{i.trust_dsl_user_id}", headers=h(c)
    ),
    "DELETE /admin/trusts/{trust_id}/roles/trust_admin/{user_id}": lambda c, i: c.client.delete(
        f"/api/v1/admin/trusts/{i.trust_id}/roles/trust_admin/{i.trust_admin_user_id}",
        headers=h(c),
    ),
    "GET /admin/audit?school_id=": lambda c, i: c.client.get(
        "/api/v1/admin/audit", params={"school_id": i.school_id}, headers=h(c)
    ),
    "GET /admin/audit?trust_id=": lambda c, i: c.client.get(
        "/api/v1/admin/audit", params={"trust_id": i.trust_id}, headers=h(c)
    ),
}

# Attempts that, allowed, make something new each time: their answers differ in any case.
NEW_EACH_TIME = {"POST /incidents Idempotency-Key"}

# Lists without an id: whatever they answer must hold nothing of another tenant.
LISTS: dict[str, Callable[[Ctx, list[School]], list[httpx.Response]]] = {
    "GET /schools": lambda c, _: [c.client.get("/api/v1/schools", headers=h(c))],
    "GET /me": lambda c, _: [c.client.get("/api/v1/me", headers=h(c))],
    "GET /students?q=<their initials>": lambda c, elsewhere: [
        c.client.get("/api/v1/students", params={"q": q, "limit": 100}, headers=h(c))
        for q in sorted({w[0] for s in elsewhere for w in SCHOOL_WORDS[s.key][1:]})
    ],
    "GET /students?q=<their pupils' names>": lambda c, elsewhere: [
        c.client.get("/api/v1/students", params={"q": q, "limit": 100}, headers=h(c))
        for s in elsewhere
        for q in SCHOOL_WORDS[s.key][1:]
    ],
    "GET /staff": lambda c, _: [c.client.get("/api/v1/staff", headers=h(c))],
    "GET /staff?q=<their names>": lambda c, elsewhere: [
        c.client.get(
            "/api/v1/staff",
            params={"q": SCHOOL_WORDS[s.key][1], "school_id": c.own.id},
            headers=h(c),
        )
        for s in elsewhere
    ],
    "GET /categories": lambda c, _: [c.client.get("/api/v1/categories", headers=h(c))],
    "GET /agencies": lambda c, _: [c.client.get("/api/v1/agencies", headers=h(c))],
    "GET /alerts": lambda c, _: [c.client.get("/api/v1/alerts?limit=100", headers=h(c))],
    "GET /auth/sessions": lambda c, _: [c.client.get("/api/v1/auth/sessions", headers=h(c))],
    "GET /admin/audit": lambda c, _: [c.client.get("/api/v1/admin/audit?limit=100", headers=h(c))],
    "GET /admin/audit?school_id=<own>": lambda c, _: [
        c.client.get(
            "/api/v1/admin/audit", params={"school_id": c.own.id, "limit": 100}, headers=h(c)
        )
    ],
}


@dataclass
class Attempt:
    role: str
    endpoint: str
    owner: str
    status: int
    verdict: str
    detail: str = ""

    @property
    def leaked(self) -> bool:
        return self.verdict.startswith("LEAK")


def body_of(reply: httpx.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return reply.text


def sent(reply: httpx.Response) -> str:
    request = reply.request
    try:
        content = request.content.decode(errors="replace")
    except httpx.RequestNotRead:
        content = ""
    return f"{request.url} {content}"


def same_as_unknown(real: httpx.Response, unknown: httpx.Response, ids: Ids, fake: Ids) -> bool:
    """The same answer, once the ids asked about are swapped for the unknown ones."""
    text = real.text
    for name, value in ids.values().items():
        text = text.replace(value, fake.values()[name])
    try:
        same = json.loads(text) == body_of(unknown)
    except ValueError:
        same = text == unknown.text
    return same and real.status_code == unknown.status_code


def judge(
    real: httpx.Response,
    unknown: httpx.Response,
    ids: Ids,
    fake: Ids,
    secrets: set[str],
    new_each_time: bool = False,
) -> tuple[str, str]:
    """The verdict on one attempt made with a tenant's real ids, beside the unknown ids'."""
    asked = sent(real)
    named = sorted(s for s in secrets if s in real.text and s not in asked)
    if real.status_code >= 500:
        return "LEAK? server error", real.text[:200]
    if same_as_unknown(real, unknown, ids, fake) and not named:
        return "ok: same as unknown", ""
    if new_each_time and real.status_code == unknown.status_code and not named:
        # A new record each time (a new incident): nothing of theirs in it is what counts.
        return "ok: a new one, not theirs", ""
    if real.status_code in (403, 404, 422) and not named:
        return "ok: refused, names nothing", f"unknown ids: {unknown.status_code}"
    if named:
        return "LEAK: names their records", ", ".join(named)[:200]
    return "LEAK: answers differently", f"{real.status_code} vs unknown {unknown.status_code}"


def judge_list(reply: httpx.Response, secrets: set[str]) -> tuple[str, str]:
    if reply.status_code >= 500:
        return "LEAK? server error", reply.text[:200]
    named = sorted(s for s in secrets if s in reply.text)
    if named:
        return "LEAK: lists their records", ", ".join(named)[:200]
    return "ok: nothing of theirs", ""


# --- what the owners see ----------------------------------------------------------


def owners_view(client: httpx.Client, world: World) -> dict[str, Any]:
    """Everything the rightful owners read, to compare before and after the attempts."""
    seen: dict[str, Any] = {}

    def me(who: Person) -> Any:
        reply = client.get("/api/v1/me", headers=who.plain)
        if reply.status_code != 200:
            return reply.status_code
        return {k: v for k, v in reply.json().items() if k != "elevated_until"}

    for key, school in world.schools.items():
        ids = school.ids
        assert ids is not None
        staff, dsl, admin = (school.people[r] for r in SCHOOL_ROLES)
        q: dict[str, str | int] = {"school_id": school.id, "limit": 100, "q": ids.pupil_surname}
        incident = client.get(f"/api/v1/incidents/{ids.incident_id}", headers=dsl.plain)
        seen[f"{key} incident"] = (incident.status_code, incident.json())
        alerts = ok(client.get("/api/v1/alerts", headers=dsl.plain, params={"limit": 100}))
        seen[f"{key} alerts"] = sorted(
            (a["id"], a["incident_id"], a["read_at"]) for a in alerts["items"]
        )
        for name in ("categories", "agencies"):
            listed = ok(client.get(f"/api/v1/{name}", params=q, headers=staff.plain))
            seen[f"{key} {name}"] = sorted(c["id"] for c in listed["items"])
        pupils = ok(client.get("/api/v1/students", params=q, headers=admin.plain))
        seen[f"{key} students"] = sorted((p["id"], p["display_name"]) for p in pupils["items"])
        intruders = ok(
            client.get("/api/v1/students", params=q | {"q": "Intruder"}, headers=admin.plain)
        )
        seen[f"{key} intruder pupils"] = intruders["items"]
        views = ok(
            client.get(
                f"/api/v1/incidents/{ids.incident_id}/views",
                params={"limit": 100},
                headers=dsl.plain,
            )
        )
        seen[f"{key} viewers"] = sorted({v["user"]["id"] for v in views["items"]})
        members = ok(
            client.get("/api/v1/staff", params={"school_id": school.id}, headers=staff.plain)
        )
        seen[f"{key} staff"] = sorted((m["id"], m["role"]) for m in members["items"])
        sessions = client.get("/api/v1/auth/sessions", headers=staff.plain)
        seen[f"{key} staff sessions"] = (
            sorted(s["id"] for s in sessions.json()["items"])
            if sessions.status_code == 200
            else sessions.status_code
        )
        staged = client.get(f"/api/v1/files/{ids.staged_file_id}/content", headers=staff.plain)
        seen[f"{key} staged file"] = (
            staged.status_code,
            hashlib.sha256(staged.content).hexdigest(),
        )
        chronology = client.get(
            f"/api/v1/students/{ids.student_id}/incidents",
            params={"limit": 100},
            headers=dsl.elevated,
        )
        seen[f"{key} chronology"] = (
            chronology.status_code,
            [i["id"] for i in chronology.json().get("items", [])],
        )
        for role, who in school.people.items():
            seen[f"{key} {role} me"] = me(who)
    for key, trust in world.trusts.items():
        boss = trust.people["trust_admin"].plain
        schools = ok(client.get("/api/v1/schools", headers=boss))
        seen[f"{key} schools"] = sorted(s["id"] for s in schools["items"])
        for role, who in trust.people.items():
            seen[f"{key} {role} me"] = me(who)
    return seen


# --- the test -----------------------------------------------------------------------


def print_table(attempts: list[Attempt]) -> None:
    widths = [11, 62, 13, 6]
    header = ("role", "endpoint", "id owner", "status", "verdict")
    lines = ["", "Cross-tenant attempts"]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths + [0], strict=True)))
    lines.append("-" * 130)
    for a in attempts:
        cells = (a.role, a.endpoint, a.owner, str(a.status), a.verdict)
        row = "  ".join(c.ljust(w) for c, w in zip(cells, widths + [0], strict=True))
        lines.append(row + (f"  ({a.detail})" if a.detail and a.leaked else ""))
    leaks = sum(a.leaked for a in attempts)
    lines.append(f"{len(attempts)} attempts, {leaks} leaks")
    print("\n".join(lines))


def test_no_role_of_one_trust_reaches_anything_of_another(client: httpx.Client, world: World):
    before = owners_view(client, world)
    own = world.schools["A1"]
    attempts: list[Attempt] = []
    for role, where in ATTACKERS:
        who = world.attacker(role, where)
        label = f"{role}@{where}"
        ctx = Ctx(client, who, own)
        # School roles of A1 do not reach A2; trust roles of A reach both A schools.
        elsewhere = [s for s in world.schools.values() if s.trust == "B"]
        if where in world.schools:
            elsewhere.append(world.schools["A2"])
        for target in elsewhere:
            assert target.ids is not None
            fake = target.ids.unknown()
            secrets = target.secrets | (
                world.trusts[target.trust].secrets if target.trust != "A" else set()
            )
            for endpoint, probe in PROBES.items():
                real = probe(ctx, target.ids)
                unknown = probe(ctx, fake)
                verdict, detail = judge(
                    real, unknown, target.ids, fake, secrets, endpoint in NEW_EACH_TIME
                )
                attempts.append(
                    Attempt(label, endpoint, target.key, real.status_code, verdict, detail)
                )
        secrets = set().union(*(s.secrets for s in elsewhere), world.trusts["B"].secrets)
        for endpoint, lister in LISTS.items():
            for reply in lister(ctx, elsewhere):
                verdict, detail = judge_list(reply, secrets)
                owners = "+".join(s.key for s in elsewhere)
                attempts.append(
                    Attempt(label, endpoint, owners, reply.status_code, verdict, detail)
                )
    after = owners_view(client, world)
    print_table(attempts)

    leaks = [a for a in attempts if a.leaked]
    assert not leaks, "\n".join(f"{a.role} {a.endpoint} {a.owner}: {a.detail}" for a in leaks)
    # The attackers' own school gains the incidents they were allowed to record.
    theirs_to_change = {"A1 alerts", "A1 chronology", "A1 viewers"}
    changed = {
        k: (before[k], after.get(k))
        for k in before
        if before[k] != after.get(k) and k not in theirs_to_change
    }
    assert not changed, f"the owners' records changed: {changed}"
    # The table is only worth something if the attempts were really made.
    assert len(attempts) > 300


def test_the_owners_still_see_their_records(client: httpx.Client, world: World):
    """A control: the owners' reads above really return the records (so a leak would show)."""
    view = owners_view(client, world)
    for key, school in world.schools.items():
        assert school.ids is not None
        assert view[f"{key} incident"][0] == 200
        assert len(view[f"{key} incident"][1]["addenda"]) == 1
        assert school.ids.alert_id in [a[0] for a in view[f"{key} alerts"]]
        assert school.ids.category_id in view[f"{key} categories"]
        assert school.ids.agency_id in view[f"{key} agencies"]
        assert len(view[f"{key} students"]) == 2
        assert view[f"{key} intruder pupils"] == []
        assert school.people["dsl"].id in view[f"{key} viewers"]
        assert view[f"{key} staged file"][0] == 200
        assert view[f"{key} chronology"][0] == 200
        assert school.ids.incident_id in view[f"{key} chronology"][1]
        assert school.ids.session_id in view[f"{key} staff sessions"]


def test_adding_their_member_to_our_school_gives_no_hold_on_their_account(
    client: httpx.Client, world: World
):
    """An admin can import anyone's email into their own school; that is all they get.

    Disabling, resetting the soft key, unlocking or renaming acts on the person
    everywhere, so it answers what an unknown id answers unless the caller
    administers every school the person holds (found by this test: it was enough
    to administer one of them).
    """
    a1, b2 = world.schools["A1"], world.schools["B2"]
    victim = b2.people["dsl"]
    before = ok(client.get("/api/v1/me", headers=victim.plain))
    for admin in (a1.people["admin"], world.trusts["A"].people["trust_admin"]):
        added = client.post(
            f"/api/v1/admin/schools/{a1.id}/staff",
            json={"items": [{"email": victim.email, "name": "Taken Over", "role": "staff"}]},
            headers=admin.elevated,
        )
        assert added.status_code == 200 and not added.json()["errors"], added.text
        for action in ("disable", "totp/reset", "unlock", "enable"):
            real = client.post(f"/api/v1/admin/users/{victim.id}/{action}", headers=admin.elevated)
            fake = client.post(
                f"/api/v1/admin/users/{uuid.uuid4()}/{action}", headers=admin.elevated
            )
            print(f"{admin.email} {action} on an imported member of B2: {real.status_code}")
            assert (real.status_code, real.json()) == (fake.status_code, fake.json()), real.text

    after = ok(client.get("/api/v1/me", headers=victim.plain))
    assert after["name"] == before["name"] != "Taken Over"
    assert after["totp_enrolled"] is True
    assert sorted(m["school_id"] for m in after["memberships"]) == sorted([a1.id, b2.id])
    # Taking them out of one's own school stays one's own business.
    removed = client.delete(
        f"/api/v1/admin/schools/{a1.id}/staff/{victim.id}", headers=a1.people["admin"].elevated
    )
    assert removed.status_code == 204, removed.text
    left = ok(client.get("/api/v1/me", headers=victim.plain))
    assert [m["school_id"] for m in left["memberships"]] == [b2.id]


# Who rightly holds each kind of id, for the control below.
RIGHTFUL: dict[str, tuple[str, str]] = {
    "GET /files/{file_id}/content (staged)": ("staff", "A1"),
    "DELETE /auth/sessions/{session_id}": ("staff", "A1"),
    "POST /incidents student_id": ("staff", "A1"),
    "POST /incidents linked_student_ids": ("staff", "A1"),
    "POST /incidents category_ids": ("staff", "A1"),
    "POST /incidents agency_ids": ("staff", "A1"),
    "POST /incidents file_ids (staged)": ("staff", "A1"),
    "POST /incidents Idempotency-Key": ("staff", "A1"),
    "POST /admin/schools trust_id": ("trust_admin", "A"),
    "POST /admin/users/{trust_dsl}/disable": ("trust_admin", "A"),
    "POST /admin/trusts/{trust_id}/roles": ("trust_admin", "A"),
    "DELETE /admin/trusts/{trust_id}/roles/trust_dsl/{user_id}": ("trust_admin", "A"),
    "DELETE /admin/trusts/{trust_id}/roles/trust_admin/{user_id}": ("trust_admin", "A"),
    "GET /admin/audit?trust_id=": ("trust_admin", "A"),
}
NOT_CONTROLLED = {
    # A file attached to an incident is taken: no one can attach it again, the owner included.
    "POST /incidents file_ids (attached)",
    # In A1 these are the calls just above them, repeated (own school and target are one).
    "DELETE /admin/schools/{own}/categories/{category_id}",
    "DELETE /admin/schools/{own}/agencies/{agency_id}",
    "DELETE /admin/schools/{own}/staff/{user_id}",
}


def test_each_attempt_would_have_shown_a_leak(client: httpx.Client, world: World):
    """A control: with the rightful holder's session, each attempt answers otherwise.

    So each attempt above really reached the record it names, and answering the
    other tenant like the rightful holder would have been caught. This writes to
    school A1 and trust A (it disables, resets, revokes), so it runs last.
    """
    a1 = world.schools["A1"]
    assert a1.ids is not None
    for endpoint, lister in LISTS.items():
        shown = [
            judge_list(reply, a1.secrets)[0]
            for role in SCHOOL_ROLES
            for reply in lister(Ctx(client, a1.people[role], a1), [a1])
        ]
        assert any(v.startswith("LEAK") for v in shown), endpoint

    alike = []
    for endpoint, probe in PROBES.items():
        if endpoint in NOT_CONTROLLED:
            continue
        role, where = RIGHTFUL.get(endpoint, ("dsl", "A1"))
        if endpoint.startswith(("POST /admin", "DELETE /admin", "GET /admin")):
            role, where = RIGHTFUL.get(endpoint, ("admin", "A1"))
        ctx = Ctx(client, world.attacker(role, where), a1)
        fake = a1.ids.unknown()
        unknown = probe(ctx, fake)
        real = probe(ctx, a1.ids)
        print(
            f"control {role}@{where:<3} {endpoint:<62} {real.status_code} vs {unknown.status_code}"
        )
        if same_as_unknown(real, unknown, a1.ids, fake):
            alike.append(f"{endpoint}: {real.status_code} {real.text[:120]}")
    assert not alike, "\n".join(alike)
