"""From an incident's commit to its alert on the DSL's dashboard, and its email at the SMTP sink.

    .venv/bin/python bench/alerts.py [--incidents 1000]

Starts the whole stack on free ports in a temporary folder (as the end-to-end
tests do): gateway, identity, incidents, notifications and files as their own
processes, PostgreSQL, NATS JetStream and the SMTP sink. Through the HTTP API
it sets up one school with a DSL and a teacher (both registered through the
reset email) and one invented pupil. Then the teacher records incidents one at
a time; after each, the DSL asks GET /api/v1/alerts?limit=5 again and again
until the incident is there.

Alert latency = when the first GET that shows the alert has its answer, minus
the incident's `recorded_at` (taken inside incidents' transaction, so at or
before its commit). Both clocks are this machine's. The figure is an upper
bound: it includes the whole GET that saw the alert (gateway, identity's
session check, notifications), whose own time is printed beside it.

Email hand-off latency = when the SMTP sink stored the alert email (the
timestamp it gives each file, to the microsecond) minus the same
`recorded_at`. Alert emails name nothing of the incident, so the n-th alert
email to the DSL is matched to the n-th incident: they are recorded one after
another and each has that one recipient.

The first 20 incidents warm things up and are left out.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from common import describe_ms, machine, percentile  # noqa: E402

from haven_devstack.background import background_stack  # noqa: E402
from haven_devstack.smtp_sink import read_messages  # noqa: E402

PASSWORD = "correct horse battery staple lighthouse"  # noqa: S105 - bench accounts'
ADMIN = "bench.admin@alerts.bench.example"
DSL = "dee.lead@alerts.bench.example"
TEACHER = "tim.teacher@alerts.bench.example"
WARM_UP = 20
TARGET_P95_MS = 200.0
ALERT_SUBJECT = "New safeguarding alert"
POLL_LIMIT = 5


def register(client: httpx.Client, maildir: Path, email: str) -> None:
    """Through the reset email, as every member of staff registers."""
    client.post("/api/v1/auth/password-reset", json={"email": email}).raise_for_status()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for message in read_messages(maildir):
            if email in str(message["To"]):
                text = message.get_body(preferencelist=("plain",)).get_content()
                found = re.search(r"token=([A-Za-z0-9_\-]+)", text)
                if found is None:
                    continue
                client.post(
                    "/api/v1/auth/password-reset/confirm",
                    json={"token": found.group(1), "password": PASSWORD},
                ).raise_for_status()
                return
        time.sleep(0.2)
    raise RuntimeError(f"the reset email to {email} never arrived")


def login(client: httpx.Client, email: str) -> dict[str, str]:
    reply = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    reply.raise_for_status()
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def set_up(running, client: httpx.Client) -> tuple[dict[str, str], dict[str, str], str, str]:  # type: ignore[no-untyped-def]
    """One school, its DSL, a teacher and a pupil: both sessions, the pupil, a category."""
    result = running.cli(
        "admin", "bootstrap", "--trust", "Bench Trust", "--school", "Alerts Academy",
        "--admin-email", ADMIN, "--admin-name", "Bench Admin",
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"bootstrap failed: {result.stderr.strip()}")
    school = json.loads(result.stdout)["school_id"]
    maildir = running.stack.maildir
    register(client, maildir, ADMIN)
    admin = login(client, ADMIN)
    client.post(
        f"/api/v1/admin/schools/{school}/staff",
        headers=admin,
        json={
            "items": [
                {"email": DSL, "name": "Dee Lead", "role": "dsl"},
                {"email": TEACHER, "name": "Tim Teacher", "role": "staff"},
            ]
        },
    ).raise_for_status()
    client.post(
        f"/api/v1/admin/schools/{school}/students",
        headers=admin,
        json={
            "items": [
                {
                    "upn": "B123456789012",
                    "first_name": "Quilla",
                    "last_name": "Brackenbury",
                    "year_group": "5",
                    "date_of_birth": "2016-05-02",
                }
            ]
        },
    ).raise_for_status()
    register(client, maildir, DSL)
    register(client, maildir, TEACHER)
    dsl, teacher = login(client, DSL), login(client, TEACHER)
    pupil = client.get("/api/v1/students", params={"q": "quilla"}, headers=teacher).json()
    category = client.get("/api/v1/categories", headers=teacher).json()["items"][0]["id"]
    return dsl, teacher, pupil["items"][0]["id"], category


def record_and_watch(
    client: httpx.Client,
    dsl: dict[str, str],
    teacher: dict[str, str],
    pupil: str,
    category: str,
    count: int,
) -> tuple[list[datetime], list[float], list[float], list[float]]:
    """Record `count` incidents one at a time; for each, poll until the DSL sees its alert."""
    recorded: list[datetime] = []
    alert_latency: list[float] = []
    record_times: list[float] = []
    poll_times: list[float] = []
    for n in range(count):
        started = time.perf_counter()
        reply = client.post(
            "/api/v1/incidents",
            headers=teacher,
            json={
                "student_id": pupil,
                "description": f"Benchmark incident {n}: what was seen and said.",
                "category_ids": [category],
            },
        )
        record_times.append(time.perf_counter() - started)
        reply.raise_for_status()
        incident = reply.json()
        recorded_at = datetime.fromisoformat(incident["recorded_at"])
        recorded.append(recorded_at)
        deadline = time.monotonic() + 30
        while True:
            asked = time.perf_counter()
            page = client.get("/api/v1/alerts", params={"limit": POLL_LIMIT}, headers=dsl)
            answered_at = datetime.now(recorded_at.tzinfo)
            poll_times.append(time.perf_counter() - asked)
            page.raise_for_status()
            if any(a["incident_id"] == incident["id"] for a in page.json()["items"]):
                alert_latency.append((answered_at - recorded_at).total_seconds())
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"incident {incident['id']} never reached the dashboard")
    return recorded, alert_latency, record_times, poll_times


def email_hand_offs(maildir: Path, recorded: list[datetime], count: int) -> list[float]:
    """Seconds from each incident's recorded_at to the sink storing its alert email."""
    deadline = time.monotonic() + 120
    while True:
        stored = []
        for path in sorted(maildir.glob("*.eml")):
            head = path.read_bytes()[:4096].decode("utf-8", "replace")
            if f"To: {DSL}" in head and f"Subject: {ALERT_SUBJECT}" in head:
                # The sink names each file by the UTC time it stored it.
                stamp = path.name.split("-", 1)[0]
                stored.append(datetime.strptime(stamp + "+0000", "%Y%m%dT%H%M%S.%fZ%z"))
        if len(stored) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if len(stored) != count:
        raise RuntimeError(f"{len(stored)} alert emails reached the sink, not {count}")
    return [(at - when).total_seconds() for at, when in zip(stored, recorded, strict=True)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    args = parser.parse_args()
    total = args.incidents + WARM_UP
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="haven-bench-alerts-") as state,
        background_stack(Path(state)) as running,
        httpx.Client(base_url=running.base_url, timeout=30) as client,
    ):
        dsl, teacher, pupil, category = set_up(running, client)
        recorded, alerts, records, polls = record_and_watch(
            client, dsl, teacher, pupil, category, total
        )
        emails = email_hand_offs(running.stack.maildir, recorded, total)
    alerts, emails, records = alerts[WARM_UP:], emails[WARM_UP:], records[WARM_UP:]

    print(f"machine: {machine()}")
    print(
        f"{args.incidents:,} incidents recorded one at a time over HTTP, each alerting the "
        f"school's DSL (after {WARM_UP} to warm up); {time.monotonic() - began:.0f} s in all"
    )
    print(f"commit -> alert in GET /api/v1/alerts: {describe_ms(alerts)}")
    print(f"commit -> email stored by the SMTP sink: {describe_ms(emails)}")
    print(f"POST /api/v1/incidents, for scale:      {describe_ms(records)}")
    print(f"one GET /api/v1/alerts?limit={POLL_LIMIT}, for scale:  {describe_ms(polls)}")
    p95 = percentile([a * 1000 for a in alerts], 95)
    verdict = "met" if p95 <= TARGET_P95_MS else "NOT met"
    print(f"target: alert p95 <= {TARGET_P95_MS:.0f} ms: {verdict} ({p95:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
