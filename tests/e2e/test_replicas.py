"""Two replicas of every service at once, under load, as operators run them.

The stack runs identity, incidents, notifications and files twice each (one
gateway); every caller is given both addresses of each service and spreads
its calls over them. Four clients record incidents over HTTP, each alerting
one member of staff and the school's DSL, some with a file attached, and
stage files no incident takes. Then:

- every outbox row of every service was published once although two relays
  competed: JetStream acknowledged it on the first attempt (a row published by
  both relays would have `attempts` 2), and the stream holds its id once;
- every event was delivered once to each durable consumer although two
  replicas pull from it (JetStream's delivery count equals the events in the
  consumer's subjects, nothing redelivered, nothing "already handled"), and
  handled once: one alert per recipient, one email per alert at the SMTP sink,
  each file attached once; both notifications replicas did part of the work;
- every replica of every service answered calls;
- the staged-file clean-up ran in both files replicas without a failure: each
  expired file was removed once, attached files were left alone and can still
  be downloaded.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
import nats
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from haven_devstack.accounts import register_and_log_in
from haven_devstack.background import BackgroundStack, background_stack
from haven_devstack.ports import port_is_free
from haven_devstack.smtp_sink import read_messages
from haven_devstack.stack import REPLICA_PORT_STEP, SERVICES, StackPorts
from haven_runtime.events import STREAM

from .mailbox import wait_for
from .test_make_run import HAVEN, interrupt_and_check_nothing_is_left, wait_ready

STRONG = "correct horse battery staple lighthouse"
ADMIN = "rhea.admin@replicas.example"
DSL = "dora.lead@replicas.example"
ALERTED = "alfie.alerted@replicas.example"
TEACHER = "tess.teacher@replicas.example"
ALERT_SUBJECT = "New safeguarding alert"

INCIDENTS = 160
CLIENTS = 4
WITH_FILE_EVERY = 4  # every 4th incident takes a file its author staged
ORPHAN_EVERY = 6  # every 6th, its author also stages a file no incident takes
REPLICAS = dict.fromkeys(SERVICES, 2)
# Staged files expire after 18 s (long enough for an incident to take its file
# under load), and each files replica looks for them every second.
FAST_CLEANUP = {
    "HAVEN_STAGED_FILE_TTL_HOURS": "0.005",
    "HAVEN_CLEANUP_INTERVAL_SECONDS": "1",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundStack]:
    with background_stack(
        tmp_path_factory.mktemp("replicas"),
        postgres_url=os.environ.get("HAVEN_POSTGRES_URL"),
        database_prefix=f"replicas_{uuid.uuid4().hex[:8]}",
        extra_env=FAST_CLEANUP,
        replicas=REPLICAS,
    ) as running:
        yield running


def log_lines(stack: BackgroundStack, name: str) -> list[dict[str, Any]]:
    path = stack.logs / f"{name}.log"
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def logged(stack: BackgroundStack, service: str, message: str) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    """Each replica's log lines that say `message` (the JSON logs' "message" key)."""
    return {
        name: [line for line in log_lines(stack, name) if line.get("message") == message]
        for name in stack.stack.replica_names(service)
    }


def query(stack: BackgroundStack, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(stack.stack.database_url(service))
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def register(client: httpx.Client, stack: BackgroundStack, email: str) -> dict[str, str]:
    """Register through the reset email, as staff do, and log in."""
    return register_and_log_in(client, stack.stack.maildir, email, STRONG)


def set_up(stack: BackgroundStack, client: httpx.Client) -> dict[str, Any]:
    result = stack.cli(
        "admin", "bootstrap", "--trust", "Replica Trust", "--school", "Twin Oaks Primary",
        "--admin-email", ADMIN, "--admin-name", "Rhea Admin",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    school = json.loads(result.stdout)["school_id"]
    admin = register(client, stack, ADMIN)
    reply = client.post(
        f"/api/v1/admin/schools/{school}/staff",
        headers=admin,
        json={
            "items": [
                {"email": DSL, "name": "Dora Lead", "role": "dsl"},
                {"email": ALERTED, "name": "Alfie Alerted", "role": "staff"},
                {"email": TEACHER, "name": "Tess Teacher", "role": "staff"},
            ]
        },
    )
    assert reply.status_code == 200, reply.text
    reply = client.post(
        f"/api/v1/admin/schools/{school}/students",
        headers=admin,
        json={
            "items": [
                {
                    "upn": "R123456789012",
                    "first_name": "Ottoline",
                    "last_name": "Quenby",
                    "year_group": "4",
                    "date_of_birth": "2017-03-09",
                }
            ]
        },
    )
    assert reply.status_code == 200, reply.text
    teacher = register(client, stack, TEACHER)
    staff = client.get("/api/v1/staff", params={"q": "alfie"}, headers=teacher).json()
    pupils = client.get("/api/v1/students", params={"q": "ottoline"}, headers=teacher).json()
    categories = client.get("/api/v1/categories", headers=teacher).json()
    return {
        "teacher": teacher,
        "alerted": staff["items"][0]["id"],
        "pupil": pupils["items"][0]["id"],
        "category": categories["items"][0]["id"],
    }


def upload(client: httpx.Client, auth: dict[str, str], n: int, what: str) -> tuple[str, bytes]:
    body = f"{what} {n}: notes from the meeting about the playground.\n".encode() * 20
    reply = client.post(
        "/api/v1/files", headers=auth, files={"file": (f"{what}-{n}.txt", body, "text/plain")}
    )
    assert reply.status_code == 201, reply.text
    return reply.json()["id"], body


def record_load(stack: BackgroundStack, setup: dict[str, Any]) -> dict[str, Any]:
    """CLIENTS clients, each recording its share of INCIDENTS one after another."""
    auth = setup["teacher"]

    def client_share(first: int) -> dict[str, Any]:
        done: dict[str, Any] = {"incidents": [], "files": {}, "orphans": []}
        with httpx.Client(base_url=stack.base_url, timeout=60) as client:
            for n in range(first, INCIDENTS, CLIENTS):
                if n % ORPHAN_EVERY == 0:
                    done["orphans"].append(upload(client, auth, n, "orphan")[0])
                file_ids = []
                if n % WITH_FILE_EVERY == 0:
                    file_id, body = upload(client, auth, n, "attached")
                    done["files"][file_id] = body
                    file_ids.append(file_id)
                reply = client.post(
                    "/api/v1/incidents",
                    headers={**auth, "Idempotency-Key": f"replicas-{n}"},
                    json={
                        "student_id": setup["pupil"],
                        "description": f"Incident {n}: what was seen and said.",
                        "category_ids": [setup["category"]],
                        "alert_staff_ids": [setup["alerted"]],
                        "file_ids": file_ids,
                    },
                )
                assert reply.status_code == 201, reply.text
                incident = reply.json()
                assert [f["id"] for f in incident["files"]] == file_ids
                done["incidents"].append(incident["id"])
                if n % 5 == 0:  # the dashboard, served by notifications
                    assert client.get("/api/v1/alerts", headers=auth).status_code == 200
        return done

    with ThreadPoolExecutor(CLIENTS) as pool:
        shares = list(pool.map(client_share, range(CLIENTS)))
    return {
        "incidents": [i for s in shares for i in s["incidents"]],
        "files": {k: v for s in shares for k, v in s["files"].items()},
        "orphans": [o for s in shares for o in s["orphans"]],
    }


STAGED_LEFT = (
    "SELECT (SELECT count(*) FROM files WHERE status = 'staged')"
    " + (SELECT count(*) FROM unclaimed_objects) AS n"
)


def clean_up_in_both_replicas(stack: BackgroundStack, auth: dict[str, str]) -> list[str]:
    """Wait until every staged file has expired and its object is removed.

    The orphans staged during the load expire over several seconds, so both
    files replicas, each looking every second, normally take some. Should one
    replica have found nothing yet (their rounds can fall close together), a
    few more orphans are staged, spread out, until both have: up to four times.
    Returns the ids of those extra orphans.
    """
    extra: list[str] = []
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        for wave in range(5):
            wait_for(
                lambda: query(stack, "files", STAGED_LEFT)[0]["n"] == 0, timeout=90, interval=0.5
            )
            if all(logged(stack, "files", "file clean-up").values()) or wave == 4:
                return extra
            for n in range(6):
                extra.append(upload(client, auth, 1000 * (wave + 1) + n, "orphan")[0])
                time.sleep(0.4)
    return extra


def stream_messages(nats_url: str) -> list[tuple[str, str]]:
    """(subject, Nats-Msg-Id) of every message in the stream, read one by one."""

    async def read() -> list[tuple[str, str]]:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(STREAM)
            found = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(STREAM, seq)
                found.append((msg.subject, (msg.headers or {}).get("Nats-Msg-Id", "")))
            assert len(found) == info.state.messages
            return found
        finally:
            await nc.close()

    return asyncio.run(read())


def durable_consumers(nats_url: str) -> list[Any]:
    async def read() -> list[Any]:
        nc = await nats.connect(nats_url)
        try:
            return list(await nc.jetstream().consumers_info(STREAM))
        finally:
            await nc.close()

    return asyncio.run(read())


def test_two_replicas_of_every_service_share_the_load_and_do_each_thing_once(
    stack: BackgroundStack,
) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        setup = set_up(stack, client)
    load = record_load(stack, setup)
    incidents, files, orphans = load["incidents"], load["files"], load["orphans"]
    assert len(set(incidents)) == INCIDENTS
    maildir = stack.stack.maildir

    def alert_emails() -> Counter[str]:
        return Counter(
            str(m["To"]) for m in read_messages(maildir) if m["Subject"] == ALERT_SUBJECT
        )

    # Everything settles: every alert emailed, every file attached, every
    # orphan expired and its object removed, every outbox row published.
    wait_for(lambda: sum(alert_emails().values()) >= 2 * INCIDENTS, timeout=90, interval=0.5)
    wait_for(
        lambda: (
            query(stack, "files", "SELECT count(*) AS n FROM files WHERE status = 'attached'")[0][
                "n"
            ]
            >= len(files)
        ),
        timeout=60,
    )
    orphans += clean_up_in_both_replicas(stack, setup["teacher"])
    pending = "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL"
    wait_for(lambda: all(query(stack, s, pending)[0]["n"] == 0 for s in SERVICES), timeout=30)

    # Each outbox row published once, and once in the stream.
    outbox_ids: set[str] = set()
    for service in SERVICES:
        rows = query(stack, service, "SELECT id, attempts, last_error FROM outbox")
        twice = [(str(r["id"]), r["attempts"]) for r in rows if r["attempts"] != 1]
        assert twice == [], f"{service}: outbox rows published more than once: {twice[:5]}"
        assert [r["last_error"] for r in rows if r["last_error"]] == []
        outbox_ids |= {str(r["id"]) for r in rows}
    in_stream = stream_messages(stack.stack.nats.url)
    copies = Counter(msg_id for _, msg_id in in_stream)
    assert [i for i, n in copies.items() if n > 1] == []
    assert set(copies) == outbox_ids
    assert len(outbox_ids) > INCIDENTS  # IncidentRecorded and every other event

    # Each event delivered once to each durable consumer, and handled once.
    per_subject = Counter(subject for subject, _ in in_stream)
    consumers = durable_consumers(stack.stack.nats.url)
    assert {c.name for c in consumers} >= {"notifications-alerts", "files-attachments"}
    for info in consumers:
        subjects = info.config.filter_subjects or [info.config.filter_subject]
        expected = sum(per_subject[s] for s in subjects)
        assert info.delivered.consumer_seq == expected, info.name
        assert info.ack_floor.consumer_seq == expected, info.name
        assert (info.num_pending, info.num_ack_pending, info.num_redelivered) == (0, 0, 0)
    handled = {
        service: Counter(
            r["consumer"] for r in query(stack, service, "SELECT consumer FROM processed_events")
        )
        for service in SERVICES
    }
    assert handled["notifications"]["notifications-alerts"] == INCIDENTS
    assert handled["files"]["files-attachments"] == INCIDENTS
    for service in SERVICES:
        repeats = logged(stack, service, "event already handled")
        assert not any(repeats.values()), f"{service}: an event was handled twice: {repeats}"

    # One alert per recipient, one email per alert, each file attached once.
    alerts = query(
        stack, "notifications", "SELECT incident_id, count(*) AS n FROM alerts GROUP BY 1"
    )
    assert {r["incident_id"]: r["n"] for r in alerts} == dict.fromkeys(incidents, 2)
    assert alert_emails() == {DSL: INCIDENTS, ALERTED: INCIDENTS}
    recorded = logged(stack, "notifications", "incident alerts recorded")
    by_incident = Counter(line["incident_id"] for lines in recorded.values() for line in lines)
    assert by_incident == dict.fromkeys(incidents, 1)
    assert all(recorded.values()), {n: len(v) for n, v in recorded.items()}
    attached = logged(stack, "files", "file attached")
    assert Counter(line["file_id"] for lines in attached.values() for line in lines) == (
        dict.fromkeys(files, 1)
    )

    # Every replica answered calls.
    for service in SERVICES:
        served = {n: len(v) for n, v in logged(stack, service, "rpc").items()}
        assert all(served.values()), f"{service}: a replica answered no calls: {served}"

    # The clean-up ran in both files replicas, expired each orphan once, failed
    # nowhere, and left the attached files alone.
    assert orphans
    gone = query(stack, "files", "SELECT id FROM files WHERE id = ANY($1::uuid[])", orphans)
    assert gone == []
    cleaned = logged(stack, "files", "file clean-up")
    assert sum(line["expired_staged_files"] for v in cleaned.values() for line in v) == len(orphans)
    assert all(cleaned.values()), {n: len(v) for n, v in cleaned.items()}
    failed = logged(stack, "files", "file clean-up failed; will try again")
    assert not any(failed.values()), failed
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        for file_id, body in files.items():
            reply = client.get(f"/api/v1/files/{file_id}/content", headers=setup["teacher"])
            assert reply.status_code == 200, reply.text
            assert reply.content == body


def test_replica_logs_are_apart(stack: BackgroundStack) -> None:
    """Each replica is its own process with its own log and its own port."""
    for service in SERVICES:
        names = stack.stack.replica_names(service)
        assert names == [f"{service}-1", f"{service}-2"]
        assert len(set(stack.stack.service_ports[service])) == 2
        for name in names:
            assert stack.processes[name].poll() is None
            assert Path(stack.logs / f"{name}.log").stat().st_size > 0


def test_haven_dev_run_starts_the_replicas_asked_for(tmp_path: Path) -> None:
    """`make run` with HAVEN_DEV_REPLICAS (or `haven dev run --replicas`): N processes
    of a service, each on its own port, all stopped by Ctrl-C."""
    ports = StackPorts.free()
    while not port_is_free(ports.files + REPLICA_PORT_STEP):  # the second replica's port
        ports = StackPorts.free()
    env = {**os.environ, "HAVEN_STATE_DIR": str(tmp_path / "var")}
    env.pop("HAVEN_POSTGRES_URL", None)
    for f in fields(ports):
        name = "HAVEN_HTTP_PORT" if f.name == "http" else f"HAVEN_DEV_{f.name.upper()}_PORT"
        env[name] = str(getattr(ports, f.name))

    refused = subprocess.run(  # noqa: S603 - our own command
        [HAVEN, "dev", "run", "--replicas", "files=0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "the count for files must be 1 to 9" in refused.stderr

    env["HAVEN_DEV_REPLICAS"] = "files=2"
    process = subprocess.Popen(  # noqa: S603 - our own command
        [HAVEN, "dev", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_ready(process, f"http://127.0.0.1:{ports.http}")
        state = json.loads((tmp_path / "var" / "stack.json").read_text())
        assert state["replicas"]["files"] == [ports.files, ports.files + 100]
        assert state["replicas"]["identity"] == [ports.identity]

        # Both files replicas answer gRPC health checks on their own ports.
        def both_serving() -> bool:
            if process.poll() is not None:  # the supervisor stops all when one exits
                raise AssertionError(f"haven dev run stopped:\n{process.communicate()[0][-4000:]}")
            return all(serving(p) for p in state["replicas"]["files"])

        wait_for(both_serving, timeout=60)
    finally:
        output = interrupt_and_check_nothing_is_left(process) if process.poll() is None else ""
    assert f"files: 2 replicas on ports {ports.files}, {ports.files + 100}" in output
    assert "Haven is running" in output


def serving(port: int) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=2
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING
