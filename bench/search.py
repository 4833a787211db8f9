"""Pupil name search (SearchStudents over gRPC) beside the raw SQL it issues.

    .venv/bin/python bench/search.py [--queries 300]

Loads 100,000 invented pupils across 100 schools through the incidents
service's own import handler (1,000 a batch, as `haven admin import-students`
does), starts the real incidents service in-process on a free port, and times
SearchStudents from a gRPC client on this machine, one call at a time: the
service's answer time (token check, query, reply). Beside each kind of query,
the same statement the adapter builds (adapters/students.py search_query), with
the same values, sent through asyncpg as a prepared statement: the raw SQL
time; and between them the service's search_students handler called in this
process (SQLAlchemy session and ORM, no gRPC), to show where the time goes.
Two callers: staff of one school (1,000 pupils; the usual case) and a
trust DSL of all 100 schools (every pupil; the worst case). PostgreSQL is
HAVEN_POSTGRES_URL's when set, else a local one in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).parent))

from common import describe_ms, machine, percentile  # noqa: E402
from incidents_stack import (  # noqa: E402
    WARM_UP,
    RunningIncidents,
    incidents_database,
    indexes_in_plan,
    record_school,
    running_incidents,
)
from names import PupilNames  # noqa: E402

from haven.incidents.v1 import incidents_pb2 as pb  # noqa: E402
from haven_incidents.adapters.students import search_statement  # noqa: E402
from haven_incidents.domain import names  # noqa: E402
from haven_incidents.domain.students import StudentInput  # noqa: E402
from haven_incidents.service_layer.students import import_students, search_students  # noqa: E402
from haven_runtime import interceptors  # noqa: E402
from haven_runtime.auth import Principal  # noqa: E402
from haven_runtime.db import Database  # noqa: E402
from haven_runtime.logging import configure_logging  # noqa: E402

SCHOOLS = 100
PUPILS_PER_SCHOOL = 1_000
LIMIT = 20
SEED = 20261130

# Server-side time: what the service's own interceptor measures for each call
# (from the handler wrapper's entry, after the request is decoded, to the
# reply), as its "rpc" log lines report it; recorded here by wrapping the
# function that computes it.
SERVER_SIDE: list[float] = []
_interceptor_ms = interceptors._ms


def _recording_ms(started: float) -> float:
    SERVER_SIDE.append(time.perf_counter() - started)
    return _interceptor_ms(started)


interceptors._ms = _recording_ms


async def load_pupils(database_url: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The schools' ids, and every pupil's (first_name, last_name) by school order."""
    db = Database(database_url, pool_size=2)
    generator = PupilNames(SEED)
    today = datetime.now(UTC).date()
    school_ids: list[str] = []
    pupils: list[tuple[str, str]] = []
    started = time.perf_counter()
    try:
        for number in range(SCHOOLS):
            school_id = str(uuid.UUID(int=random.Random(number).getrandbits(128)))  # noqa: S311
            school_ids.append(school_id)
            await record_school(db, school_id, f"Bench School {number}")
            admin = Principal("bench-admin", "", "bench", "", {school_id: "admin"})
            rows = [generator.pupil(number, n, today) for n in range(PUPILS_PER_SCHOOL)]
            result = await import_students(
                db,
                admin,
                school_id,
                [StudentInput(line=i + 2, **row) for i, row in enumerate(rows)],
            )
            if result.errors or result.created != PUPILS_PER_SCHOOL:
                raise SystemExit(f"import refused rows: {result.errors[:3]}")
            pupils.extend((row["first_name"], row["last_name"]) for row in rows)
        # Fresh statistics, as autovacuum would gather after a bulk load; in a
        # committed transaction (a rolled-back ANALYZE leaves the old ones).
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE students, student_name_words")
    finally:
        await db.dispose()
    print(
        f"loaded {len(pupils):,} pupils in {SCHOOLS} schools "
        f"in {time.perf_counter() - started:.0f} s (import handler, 1,000 a batch)",
        file=sys.stderr,
    )
    return school_ids, pupils


def make_queries(pupils: list[tuple[str, str]], count: int) -> dict[str, list[str]]:
    """Queries as people type them, drawn from real pupils' names so that most find someone."""
    chooser = random.Random(SEED + 1)  # noqa: S311 - invented data, not secrets

    def some_pupil() -> tuple[list[str], list[str]]:
        first, last = chooser.choice(pupils)
        return names.words(first), names.words(last)

    def prefix(length: int) -> str:
        first, last = some_pupil()
        return chooser.choice(first + last)[:length]

    def surname_initial() -> str:  # "smith j"
        first, last = some_pupil()
        return f"{last[0]} {first[0][0]}"

    def first_surname_starts() -> str:  # "jo sm"
        first, last = some_pupil()
        return f"{first[0][:2]} {last[0][:2]}"

    return {
        "1 letter": [prefix(1) for _ in range(count)],
        "2 letters": [prefix(2) for _ in range(count)],
        "3 letters": [prefix(3) for _ in range(count)],
        'surname + initial ("smith j")': [surname_initial() for _ in range(count)],
        'two starts ("jo sm")': [first_surname_starts() for _ in range(count)],
    }


Result = tuple[
    str, str, list[float], list[float], list[float], list[float], list[float], str, float
]


async def measure_kind(
    incidents: RunningIncidents,
    db: Database,
    conn: asyncpg.Connection,
    principal: Principal,
    texts: list[str],
) -> tuple[list[float], list[float], list[float], list[float], list[float], str, float]:
    """Server-side, RPC, in-process handler and raw SQL times for one caller and kind."""
    metadata = incidents.metadata(principal)
    scope = sorted(principal.schools)
    found: list[int] = []

    async def rpc(text: str) -> None:
        reply = await incidents.stub.SearchStudents(
            pb.SearchStudentsRequest(query=text, limit=LIMIT), metadata=metadata
        )
        found.append(len(reply.items))

    async def handler(text: str) -> None:
        await search_students(db, principal, text, "", LIMIT)

    async def raw(sql: str, params: list[Any]) -> None:
        await conn.fetch(sql, *params)

    statements = [search_statement(scope, names.words(t), LIMIT) for t in texts]
    # Interleaved: each query is asked in every form back to back, so a burst of
    # load from elsewhere on the machine falls on all forms alike and the
    # ratios stay fair. The first WARM_UP rounds are not kept.
    server_side: list[float] = []
    floor: list[float] = []
    served: list[float] = []
    in_process: list[float] = []
    direct: list[float] = []
    answered: list[int] = []
    for round_, (text, (sql, params)) in enumerate(
        zip(texts[:WARM_UP] + texts, [*statements[:WARM_UP], *statements], strict=True)
    ):
        keep = round_ >= WARM_UP
        SERVER_SIDE.clear()
        started = time.perf_counter()
        await rpc(text)
        if keep:
            served.append(time.perf_counter() - started)
            server_side.append(SERVER_SIDE[-1])
            answered.append(found[-1])
        # The floor: the same call with a blank query, answered before any SQL
        # (token check, request and reply, the interceptor's own work).
        await rpc("")
        if keep:
            floor.append(SERVER_SIDE[-1])
        started = time.perf_counter()
        await handler(text)
        if keep:
            in_process.append(time.perf_counter() - started)
        started = time.perf_counter()
        await raw(sql, params)
        if keep:
            direct.append(time.perf_counter() - started)
    sql, params = statements[0]
    plan = await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *params)
    hits = sum(1 for n in answered if n) / len(answered)
    return server_side, floor, served, in_process, direct, ", ".join(indexes_in_plan(plan)), hits


async def measure(
    database_url: str, school_ids: list[str], queries: dict[str, list[str]]
) -> list[Result]:
    callers = {
        "staff of 1 school": Principal(
            "bench-staff", "s1", "Bench Staff", "", {school_ids[0]: "staff"}
        ),
        "trust DSL, 100 schools": Principal(
            "bench-trust-dsl", "s2", "Bench DSL", "", {s: "dsl" for s in school_ids}
        ),
    }
    results: list[Result] = []
    conn = await asyncpg.connect(database_url)
    db = Database(database_url, pool_size=2)
    try:
        async with running_incidents(database_url) as incidents:
            for caller, principal in callers.items():
                for kind, texts in queries.items():
                    figures = await measure_kind(incidents, db, conn, principal, texts)
                    results.append((caller, kind, *figures))
    finally:
        await conn.close()
        await db.dispose()
    return results


async def run(count: int) -> None:
    configure_logging("bench", "WARNING")
    async with incidents_database("search") as database_url:
        school_ids, pupils = await load_pupils(database_url)
        queries = make_queries(pupils[:PUPILS_PER_SCHOOL], count)
        results = await measure(database_url, school_ids, queries)

    print(f"machine: {machine()}")
    print(
        f"{len(pupils):,} pupils in {SCHOOLS} schools; limit {LIMIT}; {count} queries of each kind"
    )
    print("queries are drawn from school 1's pupils' names (so both callers find someone)")
    for caller, kind, server_side, floor, served, in_process, direct, index, hits in results:
        ratio = percentile(server_side, 95) / percentile(direct, 95)
        above_floor = (percentile(server_side, 95) - percentile(floor, 95)) / percentile(direct, 95)
        print(f"\n{caller} / {kind}  (queries with a result: {hits:.0%})")
        print(f"  server-side (interceptor): {describe_ms(server_side)}")
        print(f"  floor (blank query, no SQL): {describe_ms(floor)}")
        print(f"  round trip from a client:  {describe_ms(served)}")
        print(f"  search_students handler:   {describe_ms(in_process)}")
        print(f"  raw SQL (asyncpg):         {describe_ms(direct)}")
        print(
            f"  p95 ratio server-side/raw: {ratio:.2f}   (server-side above the floor)/raw:"
            f" {above_floor:.2f}   index: {index}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=300, help="queries of each kind")
    args = parser.parse_args()
    asyncio.run(run(args.queries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
