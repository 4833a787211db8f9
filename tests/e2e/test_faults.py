"""Faults under a steady load: nothing acknowledged is lost, nothing is done twice.

A stack of its own (two replicas of every service, its own PostgreSQL, so that
it can be restarted) takes a steady load of incident recordings, each alerting
a colleague and the DSL (two alerts, two emails), while, in turn: NATS is
killed (-9) and restarted; each service is killed (-9, every replica) and
restarted; one replica of incidents and one of notifications are killed while
the other carries on; PostgreSQL is restarted; the SMTP server is stopped for a
while. The client does what a careful client does: it retries a failed
request with the same Idempotency-Key until it is acknowledged.

Afterwards every incident the API acknowledged exists exactly once, with
exactly two alerts, and every alert email was sent (the emails table and the
SMTP sink agree), each under one Message-ID; an email whose sender was killed
between the relay's acceptance and recording it can go out a second time with
the same Message-ID, which no SMTP client can rule out, and is counted. The test prints the count of each and how long
the stack took to acknowledge again after each fault.

The outages are five seconds each here (a little over a minute of load in
all); HAVEN_FAULT_SECONDS stretches every outage (`HAVEN_FAULT_SECONDS=60
pytest tests/e2e/test_faults.py -s` for the full run).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from haven_devstack.accounts import register_and_log_in
from haven_devstack.background import BackgroundStack, background_stack
from haven_devstack.smtp_sink import read_messages

from .mailbox import wait_for

STRONG = "correct horse battery staple lighthouse"
OUTAGE = float(os.environ.get("HAVEN_FAULT_SECONDS", "5"))
SERVICES = ("identity", "incidents", "notifications", "files")
DESCRIPTION = "Fault run: seen crying at the gate."
EMAIL_ENV = {
    # Emails retried soon after the relay returns, rather than after minutes.
    "HAVEN_EMAIL_RETRY_BASE_SECONDS": "0.5",
    "HAVEN_EMAIL_RETRY_CAP_SECONDS": "2",
    "HAVEN_EMAIL_MAX_ATTEMPTS": "1000",
    # A killed sender's claimed emails are tried again after 2 x 5 + 30 s.
    "HAVEN_SMTP_TIMEOUT_SECONDS": "5",
}


@dataclass
class Load:
    """A client recording incidents at a steady pace, retrying each until acknowledged."""

    base_url: str
    auth: dict[str, str]
    body: Callable[[], dict[str, object]]
    acknowledged: dict[str, str] = field(default_factory=dict)  # idempotency key -> id
    retries: int = 0
    given_up: list[str] = field(default_factory=list)
    acknowledged_at: list[float] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as http:
            while not self.stopping.is_set():
                key = str(uuid.uuid4())
                body = self.body()
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    try:
                        reply = http.post(
                            "/api/v1/incidents",
                            json=body,
                            headers={**self.auth, "Idempotency-Key": key},
                        )
                        if reply.status_code == 201:
                            self.acknowledged[key] = reply.json()["id"]
                            self.acknowledged_at.append(time.monotonic())
                            break
                    except httpx.HTTPError:
                        pass
                    self.retries += 1
                    time.sleep(0.25)
                else:
                    self.given_up.append(key)
                time.sleep(0.2)

    def acknowledged_since(self, moment: float, timeout: float = 120) -> float:
        """Seconds from `moment` until an incident is acknowledged again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [t for t in self.acknowledged_at if t > moment]
            if later:
                return later[0] - moment
            time.sleep(0.05)
        raise AssertionError("no incident was acknowledged after the fault")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundStack]:
    with background_stack(
        tmp_path_factory.mktemp("faults"),
        postgres_url=None,  # its own PostgreSQL, so that the test may restart it
        database_prefix="faults",
        extra_env=EMAIL_ENV,
        replicas={s: 2 for s in SERVICES},
    ) as running:
        yield running


async def query(stack: BackgroundStack, service: str, sql: str, *args: object) -> list:  # type: ignore[type-arg]
    conn = await asyncpg.connect(stack.stack.database_url(service))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def test_nothing_acknowledged_is_lost_or_done_twice_through_every_fault(
    stack: BackgroundStack,
) -> None:
    tag = uuid.uuid4().hex[:6]
    admin = f"admin.{tag}@faults.example"
    created = stack.cli(
        "admin", "bootstrap", "--trust", "Fault Trust", "--school", "Fault Primary",
        "--admin-email", admin, "--admin-name", "Ada Admin",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    school_id = json.loads(created.stdout)["school_id"]
    people = {
        "dsl": f"dsl.{tag}@faults.example",
        "teacher": f"teacher.{tag}@faults.example",
        "colleague": f"colleague.{tag}@faults.example",
    }
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        admin_auth = register_and_log_in(http, stack.stack.maildir, admin, STRONG)
        staff = http.post(
            f"/api/v1/admin/schools/{school_id}/staff",
            json={
                "items": [
                    {"email": people["dsl"], "name": "Dee Lead", "role": "dsl"},
                    {"email": people["teacher"], "name": "Tim Teacher", "role": "staff"},
                    {"email": people["colleague"], "name": "Cal Colleague", "role": "staff"},
                ]
            },
            headers=admin_auth,
        )
        assert staff.status_code == 200, staff.text
        pupils = http.post(
            f"/api/v1/admin/schools/{school_id}/students",
            json={
                "items": [
                    {
                        "upn": "F000000000001",
                        "first_name": "Faye",
                        "last_name": "Holloway",
                        "year_group": "3",
                        "date_of_birth": "2018-01-20",
                    }
                ]
            },
            headers=admin_auth,
        )
        assert pupils.status_code == 200, pupils.text
        auth = {
            role: register_and_log_in(http, stack.stack.maildir, email, STRONG)
            for role, email in people.items()
        }
        colleague_id = http.get("/api/v1/me", headers=auth["colleague"]).json()["id"]
        [pupil] = http.get(
            "/api/v1/students", params={"q": "faye"}, headers=auth["teacher"]
        ).json()["items"]
        category = wait_for(
            lambda: http.get("/api/v1/categories", headers=auth["teacher"]).json()["items"]
        )[0]

    load = Load(
        stack.base_url,
        auth["teacher"],
        lambda: {
            "student_id": pupil["id"],
            "description": DESCRIPTION,
            "category_ids": [category["id"]],
            "alert_staff_ids": [colleague_id],
        },
    )
    worker = threading.Thread(target=load.run, daemon=True)
    started = time.monotonic()
    worker.start()
    recovery: dict[str, float] = {}

    def outage(name: str, stop: Callable[[], None], start: Callable[[], None]) -> None:
        stop()
        time.sleep(OUTAGE)
        start()
        back = time.monotonic()
        recovery[name] = load.acknowledged_since(back)

    try:
        time.sleep(OUTAGE)
        outage("NATS killed", stack.stack.nats.kill, stack.stack.nats.start)
        for service in SERVICES:
            replicas = [n for n in stack.processes if n.startswith(f"{service}-")]
            outage(
                f"{service} killed (both replicas)",
                lambda replicas=replicas: [stack.kill(n) for n in replicas],
                lambda replicas=replicas: [stack.start(n) for n in replicas],
            )
        for service in ("incidents", "notifications"):
            outage(
                f"one {service} replica killed",
                lambda service=service: stack.kill(f"{service}-1"),
                lambda service=service: stack.start(f"{service}-1"),
            )
        assert stack.stack.postgres is not None
        outage("PostgreSQL restarted", stack.stack.postgres.stop, stack.stack.postgres.start)
        outage("SMTP server stopped", lambda: stack.kill("mail"), lambda: stack.start("mail"))
        time.sleep(OUTAGE)
    finally:
        load.stopping.set()
        worker.join(timeout=150)
    loaded_for = time.monotonic() - started

    acknowledged = set(load.acknowledged.values())
    assert not load.given_up, f"requests never acknowledged: {load.given_up}"
    assert len(acknowledged) == len(load.acknowledged)  # one incident per key

    stored = await query(
        stack,
        "incidents",
        "SELECT id::text, idempotency_key FROM incidents WHERE description = $1",
        DESCRIPTION,
    )
    by_key: dict[str, list[str]] = {}
    for row in stored:
        by_key.setdefault(row["idempotency_key"], []).append(row["id"])
    # Every acknowledged incident exists once; a request that was retried made one.
    assert {i for ids in by_key.values() for i in ids} >= acknowledged
    assert all(len(ids) == 1 for ids in by_key.values()), "an idempotency key made two"
    incident_ids = {row["id"] for row in stored}

    async def every_alert_and_email() -> bool:
        alerts = await query(
            stack,
            "notifications",
            "SELECT incident_id, count(*) AS n FROM alerts WHERE incident_id = ANY($1)"
            " GROUP BY incident_id",
            list(incident_ids),
        )
        sent = await query(
            stack,
            "notifications",
            "SELECT count(*) AS n FROM emails WHERE kind = 'incident_alert' AND status = 'sent'"
            " AND recipient = ANY($1)",
            [people["dsl"], people["colleague"]],
        )
        return (
            len(alerts) == len(incident_ids)
            and all(r["n"] == 2 for r in alerts)
            and sent[0]["n"] == 2 * len(incident_ids)
        )

    deadline = time.monotonic() + 180
    while not await every_alert_and_email():
        assert time.monotonic() < deadline, "alerts or emails still missing after 3 minutes"
        time.sleep(0.5)
    converged = time.monotonic()

    alert_rows = await query(
        stack,
        "notifications",
        "SELECT incident_id, user_id, count(*) AS n FROM alerts WHERE incident_id = ANY($1)"
        " GROUP BY incident_id, user_id",
        list(incident_ids),
    )
    assert all(r["n"] == 1 for r in alert_rows), "an alert was recorded twice"
    assert len(alert_rows) == 2 * len(incident_ids)
    emails = await query(
        stack,
        "notifications",
        "SELECT recipient, status, count(*) AS n FROM emails WHERE kind = 'incident_alert'"
        " AND recipient = ANY($1) GROUP BY recipient, status",
        [people["dsl"], people["colleague"]],
    )
    assert {(r["recipient"], r["status"]): r["n"] for r in emails} == {
        (people["dsl"], "sent"): len(incident_ids),
        (people["colleague"], "sent"): len(incident_ids),
    }
    # What the SMTP server received: every alert email, each under its own
    # Message-ID. A sender killed between the relay's "250 OK" and recording
    # it leaves a try nobody can know the fate of; that email is sent again
    # with the same Message-ID (so mail clients show it once) and counted here.
    delivered = read_messages(Path(stack.stack.maildir))
    resent = 0
    for role in ("dsl", "colleague"):
        to_them = [
            m for m in delivered if people[role] in str(m["To"]) and "alert" in str(m["Subject"])
        ]
        ids = [str(m["Message-ID"]) for m in to_them]
        assert len(set(ids)) == len(incident_ids), (role, len(set(ids)), len(incident_ids))
        resent += len(ids) - len(set(ids))
    unknown = await query(
        stack,
        "notifications",
        "SELECT count(*) AS n FROM email_attempts WHERE outcome = 'unknown'",
    )
    assert resent <= unknown[0]["n"], "an email went out twice without a lost try to explain it"

    print(f"\nload for {loaded_for:.0f} s, outages of {OUTAGE:.0f} s each")
    print(
        f"incidents acknowledged: {len(acknowledged)}, stored: {len(incident_ids)} "
        f"(retried requests: {load.retries}); alerts: {len(alert_rows)}; alert emails sent: "
        f"{2 * len(incident_ids)} (re-sent after a sender was killed mid-send, same "
        f"Message-ID: {resent}); all there {converged - started - loaded_for:.1f} s after the load"
    )
    for name, seconds in recovery.items():
        print(f"  {name:40s} acknowledging again {seconds:5.1f} s after the restart")
