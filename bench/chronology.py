"""A pupil's chronology (ListStudentIncidents, first page) beside the raw SQL of the page.

    .venv/bin/python bench/chronology.py [--calls 200]

One school of 1,000 invented pupils (imported through the service's handler).
Incidents are written directly in SQL into the service's own tables (faster
than 21,000 RecordIncident calls, and the read path is what is measured):
1,000 with the benchmark pupil as the student, 200 more of other pupils that
link them, and 20,000 of other pupils around them; each with one or two
categories, the school's DSL as recipient, and every tenth an addendum. Then
the real incidents service starts in-process and an elevated DSL asks for the
first page (limit 20), one call at a time: the service's answer time, which
includes writing the 21 audit rows each read leaves. Beside it the service's
handler in this process (no gRPC) and the page's statement as the adapter
builds it (adapters/chronology.py chronology_page), sent through asyncpg.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).parent))

from common import describe_ms, machine, percentile  # noqa: E402
from incidents_stack import (  # noqa: E402
    as_asyncpg,
    incidents_database,
    indexes_in_plan,
    record_school,
    running_incidents,
    time_calls,
)
from names import PupilNames  # noqa: E402

from haven.incidents.v1 import incidents_pb2 as pb  # noqa: E402
from haven_incidents.adapters.chronology import chronology_page  # noqa: E402
from haven_incidents.domain.students import StudentInput  # noqa: E402
from haven_incidents.service_layer.chronology import list_student_incidents  # noqa: E402
from haven_incidents.service_layer.students import import_students  # noqa: E402
from haven_runtime.auth import Principal  # noqa: E402
from haven_runtime.db import Database  # noqa: E402
from haven_runtime.logging import configure_logging  # noqa: E402

SCHOOL_ID = "bench-school-chronology"
PUPILS = 1_000
OWN_INCIDENTS = 1_000
LINKED_INCIDENTS = 200
OTHER_INCIDENTS = 20_000
PAGE = 20
SEED = 4


async def load(database_url: str, dsl_id: str) -> uuid.UUID:
    """The school, its pupils and incidents; returns the benchmark pupil's id."""
    db = Database(database_url, pool_size=2)
    try:
        await record_school(db, SCHOOL_ID, "Chronology Academy")
        names = PupilNames(SEED)
        today = datetime.now(UTC).date()
        admin = Principal("bench-admin", "", "bench", "", {SCHOOL_ID: "admin"})
        rows = [StudentInput(line=n + 2, **names.pupil(1, n, today)) for n in range(PUPILS)]
        await import_students(db, admin, SCHOOL_ID, rows)
    finally:
        await db.dispose()

    conn = await asyncpg.connect(database_url)
    try:
        pupils = [r["id"] for r in await conn.fetch("SELECT id FROM students ORDER BY upn")]
        categories = [r["id"] for r in await conn.fetch("SELECT id FROM categories")]
        target, others = pupils[0], pupils[1:]
        chooser = random.Random(SEED)  # noqa: S311 - invented data, not secrets
        now = datetime.now(UTC)
        incidents, links, tags, recipients, addenda = [], [], [], [], []
        kinds = (
            [("own", target)] * OWN_INCIDENTS
            + [("linking", None)] * LINKED_INCIDENTS
            + [("other", None)] * OTHER_INCIDENTS
        )
        for kind, student in kinds:
            incident_id = uuid.uuid4()
            # Spread over five school years, some at the same minute.
            occurred = now - timedelta(minutes=chooser.randrange(5 * 365 * 24 * 60))
            incidents.append(
                (
                    incident_id,
                    SCHOOL_ID,
                    student or chooser.choice(others),
                    "Benchmark incident: what was seen and said, as recorded at the time.",
                    occurred,
                    occurred + timedelta(minutes=chooser.randrange(1, 600)),
                    "bench-author",
                    "Bench Author",
                )
            )
            if kind == "linking":
                links.append((incident_id, target, 1))
            for position, category in enumerate(chooser.sample(categories, chooser.choice((1, 2)))):
                tags.append((incident_id, category, position + 1))
            recipients.append((incident_id, dsl_id, "Bench DSL", False, 1))
            if chooser.random() < 0.1:
                addenda.append(
                    (uuid.uuid4(), incident_id, "Follow-up.", dsl_id, "Bench DSL", occurred)
                )
        await conn.copy_records_to_table(
            "incidents",
            records=incidents,
            columns=[
                "id",
                "school_id",
                "student_id",
                "description",
                "occurred_at",
                "recorded_at",
                "recorded_by",
                "recorded_by_name",
            ],
        )
        await conn.copy_records_to_table(
            "incident_linked_students",
            records=links,
            columns=["incident_id", "student_id", "position"],
        )
        await conn.copy_records_to_table(
            "incident_categories", records=tags, columns=["incident_id", "category_id", "position"]
        )
        await conn.copy_records_to_table(
            "incident_recipients",
            records=recipients,
            columns=["incident_id", "user_id", "name", "named", "position"],
        )
        await conn.copy_records_to_table(
            "incident_addenda",
            records=addenda,
            columns=["id", "incident_id", "text", "author_id", "author_name", "created_at"],
        )
        await conn.execute("ANALYZE")
        return target
    finally:
        await conn.close()


class _Capture:
    """Stands in for the session to catch the statement chronology_page builds."""

    statement: Any = None

    async def scalars(self, statement: Any) -> list[object]:
        self.statement = statement
        return []


async def page_statement(student_id: uuid.UUID) -> tuple[str, list[Any]]:
    capture = _Capture()
    # One more than the page, as the handler asks, to learn whether another follows.
    await chronology_page(
        capture,  # type: ignore[arg-type]
        school_id=SCHOOL_ID,
        student_id=student_id,
        after=None,
        size=PAGE + 1,
    )
    return as_asyncpg(capture.statement)


async def run(calls: int) -> None:
    configure_logging("bench", "WARNING")
    dsl = Principal(
        user_id="bench-dsl",
        session_id="bench-session",
        name="Bench DSL",
        email="",
        schools={SCHOOL_ID: "dsl"},
        elevated_until=datetime.now(UTC) + timedelta(hours=1),
    )
    async with incidents_database("chronology") as database_url:
        target = await load(database_url, dsl.user_id)
        sql, params = await page_statement(target)
        conn = await asyncpg.connect(database_url)
        db = Database(database_url, pool_size=2)
        sizes: list[int] = []
        async with running_incidents(database_url) as incidents:
            metadata = incidents.metadata(dsl)
            request = pb.ListStudentIncidentsRequest(student_id=str(target), limit=PAGE)

            async def rpc() -> None:
                reply = await incidents.stub.ListStudentIncidents(request, metadata=metadata)
                sizes.append(len(reply.items))

            async def handler() -> None:
                await list_student_incidents(db, dsl, str(target), limit=PAGE, cursor="")

            async def raw() -> None:
                await conn.fetch(sql, *params)

            served = await time_calls([rpc] * calls)
            in_process = await time_calls([handler] * calls)
            direct = await time_calls([raw] * calls)
            plan = await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *params)
            analysed = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *params)
        in_trail = await conn.fetchval(
            "SELECT count(*) FROM incident_views WHERE student_id = $1", target
        )
        await conn.close()
        await db.dispose()

    print(f"machine: {machine()}")
    print(
        f"1 school, {PUPILS:,} pupils, {OWN_INCIDENTS + LINKED_INCIDENTS + OTHER_INCIDENTS:,} "
        f"incidents; the pupil is the student of {OWN_INCIDENTS:,} and linked in "
        f"{LINKED_INCIDENTS}; first page of {PAGE} (every reply had {min(sizes)}-{max(sizes)})"
    )
    print(f"ListStudentIncidents over gRPC, elevated DSL: {describe_ms(served)}")
    print(f"list_student_incidents handler in process:   {describe_ms(in_process)}")
    print(f"raw SQL of the page (asyncpg):               {describe_ms(direct)}")
    print(f"p95 ratio rpc/raw: {percentile(served, 95) / percentile(direct, 95):.2f}")
    print(f"index: {', '.join(indexes_in_plan(plan))}")
    print(f"audit rows written for the pupil's reads: {in_trail:,}")
    print("plan of the page (EXPLAIN ANALYZE):")
    for row in analysed:
        print("  " + row[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.calls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
