"""`haven admin bootstrap`: the first trust, school and admin, straight into identity's database."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from haven.identity.v1 import identity_pb2 as pb
from haven_identity.bootstrap import bootstrap, bootstrap_sync
from haven_runtime.errors import ValidationFailed

from .conftest import identity_settings, start_identity, stop_identity
from .helpers import eventually, jetstream_payloads, outbox_payloads, query


async def counts(database_url: str) -> dict[str, int]:
    tables = ("trusts", "schools", "users", "memberships", "trust_roles", "outbox", "audit_events")
    return {
        t: (await query(database_url, f"SELECT count(*) AS n FROM {t}"))[0]["n"] for t in tables
    }


async def test_bootstrap_creates_the_trust_the_school_and_an_admin_of_both_without_a_password(
    create_database,
):
    url = await create_database("identity")
    ids = await bootstrap(url, "Oak Trust", "Oak Primary", " Ada.Admin@Example.ORG ", "Ada Admin")

    trust = await query(url, "SELECT id, name FROM trusts")
    school = await query(url, "SELECT id, trust_id, name FROM schools")
    user = await query(url, "SELECT id, email, name, password_hash, disabled FROM users")
    assert [(str(t["id"]), t["name"]) for t in trust] == [(ids["trust_id"], "Oak Trust")]
    assert [(str(s["id"]), str(s["trust_id"]), s["name"]) for s in school] == [
        (ids["school_id"], ids["trust_id"], "Oak Primary")
    ]
    assert [
        (str(u["id"]), u["email"], u["name"], u["password_hash"], u["disabled"]) for u in user
    ] == [(ids["admin_user_id"], "ada.admin@example.org", "Ada Admin", None, False)]
    memberships = await query(url, "SELECT user_id, school_id, role FROM memberships")
    assert [(str(m["user_id"]), str(m["school_id"]), m["role"]) for m in memberships] == [
        (ids["admin_user_id"], ids["school_id"], "admin")
    ]
    trust_roles = await query(url, "SELECT user_id, trust_id, role FROM trust_roles")
    assert [(str(r["user_id"]), str(r["trust_id"]), r["role"]) for r in trust_roles] == [
        (ids["admin_user_id"], ids["trust_id"], "trust_admin")
    ]
    created = await outbox_payloads(url, pb.SchoolCreated)
    assert [(e.school_id, e.trust_id, e.name) for e in created] == [
        (ids["school_id"], ids["trust_id"], "Oak Primary")
    ]
    audited = await query(
        url, "SELECT action, subject_user_id, actor_name, detail->>'to' AS role FROM audit_events"
    )
    assert sorted((a["action"], str(a["subject_user_id"]), a["role"]) for a in audited) == [
        ("role_changed", ids["admin_user_id"], "admin"),
        ("role_changed", ids["admin_user_id"], "trust_admin"),
    ]


async def test_bootstrap_run_again_returns_the_same_ids_and_creates_nothing_new(create_database):
    url = await create_database("identity")
    first = await bootstrap(url, "Elm Trust", "Elm Academy", "head@elm.example.org")
    before = await counts(url)
    # The synchronous wrapper the CLI calls, from a thread (it runs its own event loop).
    again = await asyncio.to_thread(
        bootstrap_sync, url, "Elm Trust", "Elm Academy", "HEAD@elm.example.org"
    )
    assert again == first
    assert await counts(url) == before
    assert len(await outbox_payloads(url, pb.SchoolCreated)) == 1


async def test_two_bootstraps_at_once_create_one_trust_school_and_admin(create_database):
    # Two processes, as two deploy jobs would be (alembic's module-level state
    # allows one migration at a time per process).
    url = await create_database("identity")
    script = (
        "import json, sys; from haven_identity.bootstrap import bootstrap_sync; "
        "ids = bootstrap_sync(sys.argv[1], 'Ash Trust', 'Ash School', 'head@ash.example.org'); "
        "print(json.dumps(ids))"
    )
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    results = [await p.communicate() for p in processes]
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr.decode()
    outputs = [json.loads(stdout) for stdout, _ in results]
    assert outputs[0] == outputs[1] == outputs[2]
    assert (await counts(url))["schools"] == 1


async def test_bootstrap_adds_a_second_school_to_an_existing_trust(create_database):
    url = await create_database("identity")
    first = await bootstrap(url, "Yew Trust", "Yew Infants", "head@yew.example.org")
    second = await bootstrap(url, "Yew Trust", "Yew Juniors", "head@yew.example.org")
    assert second["trust_id"] == first["trust_id"]
    assert second["admin_user_id"] == first["admin_user_id"]
    assert second["school_id"] != first["school_id"]
    assert {e.name for e in await outbox_payloads(url, pb.SchoolCreated)} == {
        "Yew Infants",
        "Yew Juniors",
    }


async def test_bootstrap_refuses_an_invalid_email_and_writes_nothing(create_database):
    url = await create_database("identity")
    with pytest.raises(ValidationFailed) as refused:
        await bootstrap(url, "Fir Trust", "Fir School", "not-an-email")
    assert [v.field for v in refused.value.violations] == ["admin_email"]
    # Migrations need not even have run; if they did, no rows exist.
    tables = await query(url, "SELECT to_regclass('trusts') AS t")
    if tables[0]["t"] is not None:
        assert (await counts(url))["trusts"] == 0


async def test_the_school_created_by_bootstrap_reaches_jetstream_once_identity_runs(
    create_database, nats_url, token_public_key, signing_key
):
    url = await create_database("identity")
    ids = await bootstrap(url, "Birch Trust", "Birch Primary", "head@birch.example.org")
    service, task = await start_identity(
        identity_settings(url, nats_url, token_public_key, signing_key)
    )
    try:

        async def published() -> bool:
            events = await jetstream_payloads(nats_url, pb.SchoolCreated)
            return any(e.school_id == ids["school_id"] for e in events)

        await eventually(published)
    finally:
        await stop_identity(service, task)
    events = [
        e
        for e in await jetstream_payloads(nats_url, pb.SchoolCreated)
        if e.school_id == ids["school_id"]
    ]
    assert [(e.trust_id, e.name) for e in events] == [(ids["trust_id"], "Birch Primary")]
