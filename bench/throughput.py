"""Recording incidents through the whole stack: how many per second, each with two alerts,
until every alert is visible; latency at a fixed rate; memory under that load.

    .venv/bin/python bench/throughput.py [--seconds 20] [--clients 32] [--rate 500]

Starts the whole stack on free ports (as the end-to-end tests do): gateway,
identity, incidents, notifications and files as their own processes,
PostgreSQL, NATS JetStream, the SMTP sink. One school, its DSL, two teachers
(registered through the reset email) and 1,000 invented pupils. Then:

1. Sustained: `--clients` concurrent clients record incidents as fast as the
   stack answers for `--seconds` (each names the other teacher, so with the
   DSL each incident has two alerts). The figure is incidents acknowledged
   (201) divided by the time from the first request until the last of their
   alerts is visible in `GET /api/v1/alerts` (unread_count) of both readers.
2. Fixed rate: `--rate` incidents per second offered on schedule for 10 s
   (open loop: a request is sent at its time whether or not earlier ones have
   been answered; aiohttp, one process); the POST latency percentiles counted
   from the time each request was due, how late the client sent them, and how
   many were answered.
   Beside them, the gateway's own account from its access log: how fast the
   POSTs actually arrived, how long each spent inside the gateway, and how
   each was answered, so that a queue in the load client (one Python process
   sharing the two cores) is not taken for one in the stack.
3. Memory: every process's resident size at rest and its peak during 1.
4. CPU: the CPU time each process used during 1, per incident (Haven's own
   processes by pid; PostgreSQL, NATS and SeaweedFS by process name, so run it
   on an otherwise quiet machine): where an incident's cost goes.

Goals (issue 8): at least 1,000 incidents per second; p99 at most 50 ms at 500
per second; at most 150 MB per service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).parent))

from common import (  # noqa: E402
    cpu_seconds,
    cpu_seconds_by_command,
    cpu_used_by_command,
    machine,
    percentile,
)
from names import PupilNames  # noqa: E402

from haven_devstack.accounts import register_and_log_in  # noqa: E402
from haven_devstack.background import background_stack  # noqa: E402

PASSWORD = "correct horse battery staple lighthouse"  # noqa: S105 - bench accounts'
PUPILS = 1_000
SEED = 20261130
GOAL_PER_SECOND = 1_000
GOAL_P99_MS = 50.0
GOAL_RSS_MB = 150
# Servers whose CPU time is counted by process name (every one on the machine).
SERVERS = ("postgres", "nats-server", "weed")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class World:
    """Who records, who is alerted, and what an incident names."""

    def __init__(self, http: httpx.Client, stack) -> None:  # type: ignore[no-untyped-def]
        tag = uuid.uuid4().hex[:6]
        admin = f"admin.{tag}@throughput.bench.example"
        created = stack.cli(
            "admin", "bootstrap", "--trust", f"Throughput Trust {tag}", "--school",
            f"Throughput School {tag}", "--admin-email", admin, "--admin-name", "Ada Admin",
        )  # fmt: skip
        if created.returncode != 0:
            raise SystemExit(created.stderr)
        self.school_id = json.loads(created.stdout)["school_id"]
        maildir = stack.stack.maildir
        admin_auth = register_and_log_in(http, maildir, admin, PASSWORD)
        self.emails = {
            "dsl": f"dsl.{tag}@throughput.bench.example",
            "teacher": f"teacher.{tag}@throughput.bench.example",
            "colleague": f"colleague.{tag}@throughput.bench.example",
        }
        staff = http.post(
            f"/api/v1/admin/schools/{self.school_id}/staff",
            json={
                "items": [
                    {"email": self.emails["dsl"], "name": "Dee Lead", "role": "dsl"},
                    {"email": self.emails["teacher"], "name": "Tim Teacher", "role": "staff"},
                    {"email": self.emails["colleague"], "name": "Cal Colleague", "role": "staff"},
                ]
            },
            headers=admin_auth,
        )
        staff.raise_for_status()
        today = datetime.now(UTC).date()
        names = PupilNames(SEED)
        http.post(
            f"/api/v1/admin/schools/{self.school_id}/students",
            json={"items": [names.pupil(0, n, today) for n in range(PUPILS)]},
            headers=admin_auth,
            timeout=120,
        ).raise_for_status()
        self.auth = {
            role: register_and_log_in(http, maildir, e, PASSWORD) for role, e in self.emails.items()
        }
        me = http.get("/api/v1/me", headers=self.auth["colleague"]).json()
        self.colleague_id = me["id"]
        self.pupil_ids = [
            p["id"]
            for letter in "abcdefghjklmnprstw"
            for p in http.get(
                "/api/v1/students", params={"q": letter, "limit": 100}, headers=self.auth["teacher"]
            ).json()["items"]
        ]
        self.category_ids = [
            c["id"]
            for c in http.get("/api/v1/categories", headers=self.auth["teacher"]).json()["items"]
        ]

    def body(self, chooser: random.Random) -> dict[str, object]:
        return {
            "student_id": chooser.choice(self.pupil_ids),
            "description": "Seen at lunch time: upset and would not say why.",
            "category_ids": [chooser.choice(self.category_ids)],
            "alert_staff_ids": [self.colleague_id],
        }


async def unread(client: httpx.AsyncClient, auth: dict[str, str]) -> int:
    reply = await client.get("/api/v1/alerts", params={"limit": 1}, headers=auth)
    reply.raise_for_status()
    return int(reply.json()["unread_count"])


async def sustained(base_url: str, world: World, seconds: float, clients: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        before = {r: await unread(client, world.auth[r]) for r in ("dsl", "colleague")}
        accepted = 0
        refused = 0
        started = time.perf_counter()
        deadline = started + seconds

        async def worker(number: int) -> None:
            nonlocal accepted, refused
            chooser = random.Random(SEED + number)  # noqa: S311 - invented data
            while time.perf_counter() < deadline:
                reply = await client.post(
                    "/api/v1/incidents",
                    json=world.body(chooser),
                    headers={**world.auth["teacher"], "Idempotency-Key": str(uuid.uuid4())},
                )
                if reply.status_code == 201:
                    accepted += 1
                else:
                    refused += 1

        await asyncio.gather(*(worker(n) for n in range(clients)))
        answered = time.perf_counter()
        while True:
            counts = {r: await unread(client, world.auth[r]) - before[r] for r in before}
            if all(n >= accepted for n in counts.values()):
                break
            if time.perf_counter() - answered > 300:
                raise SystemExit(f"alerts still missing after 5 minutes: {counts} of {accepted}")
            await asyncio.sleep(0.1)
        visible = time.perf_counter()
    return {
        "accepted": accepted,
        "refused": refused,
        "answered_s": answered - started,
        "visible_s": visible - started,
    }


async def fixed_rate(base_url: str, world: World, rate: float, seconds: float) -> dict[str, object]:
    """Offer `rate` incidents a second for `seconds`, each sent at its time whatever the earlier
    ones are doing (open loop). Latency counts from the time a request was due, so a client
    falling behind shows in it rather than hiding it; how late the client sent is reported too.
    aiohttp, not httpx: at 512 connections httpx's pool, not the stack, set the pace."""
    latencies: list[float] = []
    late: list[float] = []
    failures = 0
    statuses: dict[str, int] = {}
    headers = world.auth["teacher"]
    connector = aiohttp.TCPConnector(limit=512)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:
        chooser = random.Random(SEED)  # noqa: S311 - invented data
        start = time.perf_counter()

        async def one(due: float, body: dict[str, object]) -> None:
            nonlocal failures
            late.append((time.perf_counter() - due) * 1000)
            try:
                async with session.post(
                    "/api/v1/incidents",
                    json=body,
                    headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
                ) as reply:
                    answer = await reply.read()
                    if reply.status == 201:
                        latencies.append((time.perf_counter() - due) * 1000)
                        return
                    failures += 1
                    try:
                        code = json.loads(answer).get("code", "")
                    except ValueError:  # not problem+json (a proxy's page, say)
                        code = answer[:40].decode("latin-1")
                    key = f"{reply.status} {code}"
            except (aiohttp.ClientError, TimeoutError) as error:
                failures += 1
                key = type(error).__name__
            statuses[key] = statuses.get(key, 0) + 1

        tasks = []
        total = int(rate * seconds)
        for n in range(total):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, world.body(chooser))))
        offered_s = time.perf_counter() - start
        await asyncio.gather(*tasks)
    return {
        "offered": total,
        "offered_s": offered_s,
        "latencies": latencies,
        "late": late,
        "failures": failures,
        "statuses": statuses,
    }


def gateway_account(log: Path, offset: int) -> dict[str, object]:
    """The POST /api/v1/incidents lines of the gateway's access log from byte `offset`:
    when each arrived (its line's time less the time it took), the milliseconds it spent
    in the gateway, and the statuses answered."""
    arrived: list[float] = []
    took: list[float] = []
    statuses: dict[int, int] = {}
    with log.open("rb") as lines:
        lines.seek(offset)
        for raw in lines:
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # not a JSON line (a library's own output)
            if (line.get("message"), line.get("method"), line.get("path")) != (
                "http",
                "POST",
                "/api/v1/incidents",
            ):
                continue
            ended = datetime.fromisoformat(line["timestamp"]).timestamp()
            arrived.append(ended - line["ms"] / 1000)
            took.append(line["ms"])
            statuses[line["status"]] = statuses.get(line["status"], 0) + 1
    return {
        "count": len(took),
        "arrival_s": (max(arrived) - min(arrived)) if arrived else 0.0,
        "took": took,
        "statuses": statuses,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the sustained run")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--rate", type=float, default=500.0, help="incidents/s offered")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="haven-bench-throughput-") as scratch:
        with background_stack(
            Path(scratch),
            postgres_url=os.environ.get("HAVEN_POSTGRES_URL"),
            database_prefix=f"benchtp_{uuid.uuid4().hex[:6]}",
        ) as stack:
            with httpx.Client(base_url=stack.base_url, timeout=60) as http:
                world = World(http, stack)
            pids = {name: p.pid for name, p in stack.processes.items()}
            at_rest = {name: rss_mb(pid) for name, pid in pids.items()}
            peak = dict(at_rest)
            cpu_used: dict[str, float] = {}

            def cpu_now() -> tuple[dict[str, float], dict[tuple[str, int], float]]:
                own = {name: cpu_seconds(pid) for name, pid in pids.items()}
                own["load client (this process)"] = time.process_time()
                return own, cpu_seconds_by_command(SERVERS)

            access_log = stack.logs / "gateway.log"
            fixed_rate_from: list[int] = []

            async def run() -> tuple[dict[str, float], dict[str, object]]:
                async def sample(stop: asyncio.Event) -> None:
                    while not stop.is_set():
                        for name, pid in pids.items():
                            peak[name] = max(peak[name], rss_mb(pid))
                        await asyncio.sleep(0.5)

                stop = asyncio.Event()
                sampler = asyncio.create_task(sample(stop))
                own_before, servers_before = cpu_now()
                first = await sustained(stack.base_url, world, args.seconds, args.clients)
                own_after, servers_after = cpu_now()
                cpu_used.update({name: own_after[name] - own_before[name] for name in own_after})
                cpu_used.update(cpu_used_by_command(servers_before, servers_after))
                stop.set()
                await sampler
                fixed_rate_from.append(access_log.stat().st_size)  # where its lines start
                second = await fixed_rate(stack.base_url, world, args.rate, 10.0)
                return first, second

            first, second = asyncio.run(run())
            time.sleep(0.5)  # the last lines reach the file
            inside = gateway_account(access_log, fixed_rate_from[0])

    print(f"machine: {machine()}")
    per_second = first["accepted"] / first["visible_s"]
    print(
        f"\nsustained, {args.clients} clients for {args.seconds:.0f} s: "
        f"{first['accepted']:.0f} incidents acknowledged ({first['refused']:.0f} refused), "
        f"every alert visible after {first['visible_s']:.1f} s: {per_second:.0f} incidents/s "
        f"({2 * per_second:.0f} alerts/s); goal {GOAL_PER_SECOND}/s: "
        f"{'met' if per_second >= GOAL_PER_SECOND else 'NOT met'}"
    )
    wall = first["visible_s"]
    print(
        f"\nCPU time during the sustained run ({wall:.1f} s wall, {os.cpu_count()} cores = "
        f"{wall * (os.cpu_count() or 1):.1f} CPU-s available), per incident acknowledged:"
    )
    for name, used in sorted(cpu_used.items(), key=lambda item: -item[1]):
        print(
            f"  {name:28s} {used:6.1f} CPU-s  {1000 * used / max(first['accepted'], 1):6.2f} ms"
            f"  ({100 * used / wall:3.0f}% of one core)"
        )
    total = sum(cpu_used.values())
    print(
        f"  {'all of the above':28s} {total:6.1f} CPU-s  "
        f"{1000 * total / max(first['accepted'], 1):6.2f} ms per incident"
    )
    latencies = second["latencies"]
    assert isinstance(latencies, list)
    answered = len(latencies)
    print(
        f"\nfixed rate, {args.rate:.0f}/s offered for 10 s ({second['offered']} offered in "
        f"{second['offered_s']:.1f} s): {answered} answered 201, {second['failures']} failed"
        + (f" {second['statuses']}" if second["failures"] else "")
    )
    if latencies:
        p99 = percentile(latencies, 99)
        print(
            f"  POST latency from the time each was due: p50 {percentile(latencies, 50):.0f} ms  "
            f"p95 {percentile(latencies, 95):.0f} ms  p99 {p99:.0f} ms; goal p99 "
            f"{GOAL_P99_MS:.0f} ms: {'met' if p99 <= GOAL_P99_MS else 'NOT met'}"
        )
    late = second["late"]
    assert isinstance(late, list)
    if late:
        print(
            f"  the load client sent them late by p50 {percentile(late, 50):.1f} ms, "
            f"p99 {percentile(late, 99):.1f} ms, at most {max(late):.1f} ms"
        )
    took = inside["took"]
    assert isinstance(took, list)
    if took:
        arrival_s = float(inside["arrival_s"])  # type: ignore[arg-type]
        print(
            f"  as the gateway saw them: {inside['count']} arrived over {arrival_s:.1f} s "
            f"({inside['count'] / max(arrival_s, 0.001):.0f}/s), answered {inside['statuses']}; "
            f"time inside the gateway p50 {percentile(took, 50):.0f} ms  "
            f"p95 {percentile(took, 95):.0f} ms  p99 {percentile(took, 99):.0f} ms"
        )
    print("\nresident memory (MiB): at rest / peak during the sustained run")
    for name in pids:
        flag = "" if peak[name] <= GOAL_RSS_MB else f"  over {GOAL_RSS_MB}"
        print(f"  {name:14s} {at_rest[name]:6.0f} / {peak[name]:6.0f}{flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
