"""`haven admin import-students`, run as the operator runs it, against a real incidents database."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

import haven_incidents
from haven.identity.v1.identity_pb2 import SchoolCreated
from haven_incidents.service_layer.schools import on_school_created
from haven_runtime.db import Database
from haven_runtime.events import Event
from haven_runtime.migrations import upgrade_async

HEADER = "upn,first_name,last_name,year_group,date_of_birth\n"


async def record_school(database_url: str, school_id: str) -> None:
    """As the incidents service does when identity announces the school."""
    db = Database(database_url, pool_size=1)
    try:
        async with db.unit_of_work("incidents") as uow:
            event = Event(
                event_id=str(uuid.uuid4()),
                type=SchoolCreated.DESCRIPTOR.full_name,
                producer="identity",
                occurred_at=datetime.now(UTC),
                payload=SchoolCreated(school_id=school_id, trust_id="trust-1", name="Test Primary"),
            )
            await on_school_created(uow, event)
            await uow.commit()
    finally:
        await db.dispose()


@pytest.fixture
async def incidents_db(create_database: Callable) -> tuple[str, str]:  # type: ignore[type-arg]
    url = await create_database("cli_import")
    await upgrade_async(Path(haven_incidents.__file__).parent / "migrations", url)
    school_id = str(uuid.uuid4())
    await record_school(url, school_id)
    return url, school_id


def haven(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HAVEN_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "haven_cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


async def pupils_of(database_url: str, school_id: str) -> dict[str, asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT * FROM students WHERE school_id = $1", school_id)
    finally:
        await conn.close()
    return {r["upn"]: r for r in rows}


def upn(n: int) -> str:
    return f"A{n:012d}"


async def test_a_large_csv_goes_in_whole_across_batches_and_exits_0(
    incidents_db: tuple[str, str], tmp_path: Path
) -> None:
    url, school = incidents_db
    file = tmp_path / "pupils.csv"
    file.write_text(
        HEADER + "".join(f"{upn(n)},Zoë,Smith{n},Year 5,2015-03-01\n" for n in range(2_500)),
        encoding="utf-8",
    )

    done = haven(url, "admin", "import-students", "--school", school, str(file))

    assert done.returncode == 0, done.stderr
    assert "2500 of 2500 pupils imported (2500 new, 0 updated)" in done.stdout
    pupils = await pupils_of(url, school)
    assert len(pupils) == 2_500
    assert pupils[upn(1234)]["first_name"] == "Zoë"
    assert pupils[upn(1234)]["year_group"] == "5"


async def test_a_second_import_updates_pupils_by_upn(
    incidents_db: tuple[str, str], tmp_path: Path
) -> None:
    url, school = incidents_db
    file = tmp_path / "pupils.csv"
    file.write_text(HEADER + f"{upn(1)},José,García,4,2016-01-02\n", encoding="utf-8")
    assert haven(url, "admin", "import-students", "--school", school, str(file)).returncode == 0
    file.write_text(HEADER + f"{upn(1)},José,García López,5,2016-01-02\n", encoding="utf-8")

    done = haven(url, "admin", "import-students", "--school", school, str(file))

    assert done.returncode == 0, done.stderr
    assert "(0 new, 1 updated)" in done.stdout
    pupils = await pupils_of(url, school)
    assert [(p["last_name"], p["year_group"]) for p in pupils.values()] == [("García López", "5")]


async def test_bad_rows_are_reported_by_line_and_field_and_the_good_ones_still_go_in(
    incidents_db: tuple[str, str], tmp_path: Path
) -> None:
    url, school = incidents_db
    lines = [f"{upn(n)},Chloé,Jones,3,2017-05-06" for n in range(1_500)]
    lines[10] = f"{upn(10)},,Jones,3,2017-05-06"  # file line 12: no first name
    lines[1_200] = f"{upn(1_200)},Chloé,Jones,Year 15,06/05/2017"  # line 1202: two fields
    lines[1_400] = f"{upn(3)},Chloé,Jones,3,2017-05-06"  # line 1402: UPN of line 5, other batch
    file = tmp_path / "pupils.csv"
    file.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    errors_file = tmp_path / "errors.csv"

    done = haven(
        url, "admin", "import-students", "--school", school, str(file), "--errors", str(errors_file)
    )

    assert done.returncode == 1, done.stderr
    assert "1497 of 1500 pupils imported" in done.stdout
    assert "3 lines refused" in done.stdout
    assert "line 12: first_name is required" in done.stdout
    assert "line 1202: year_group" in done.stdout
    assert "line 1202: date_of_birth" in done.stdout
    assert "line 1402: upn repeats the UPN of line 5" in done.stdout
    with errors_file.open(encoding="utf-8") as handle:
        written = [(int(r["line"]), r["field"]) for r in csv.DictReader(handle)]
    assert written == [
        (12, "first_name"),
        (1202, "year_group"),
        (1202, "date_of_birth"),
        (1402, "upn"),
    ]
    assert len(await pupils_of(url, school)) == 1_497


async def test_only_the_first_20_bad_rows_are_printed_and_errors_file_has_them_all(
    incidents_db: tuple[str, str], tmp_path: Path
) -> None:
    url, school = incidents_db
    file = tmp_path / "pupils.csv"
    file.write_text(HEADER + "".join(f"X{n},A,B,5,2015-01-01\n" for n in range(30)))
    errors_file = tmp_path / "errors.csv"

    done = haven(
        url, "admin", "import-students", "--school", school, str(file), "--errors", str(errors_file)
    )

    assert done.returncode == 1
    assert done.stdout.count(": upn must be 13 characters") == 20
    assert "... and 10 more" in done.stdout
    assert len(errors_file.read_text().splitlines()) == 31


async def test_a_json_file_of_items_imports_like_a_csv(
    incidents_db: tuple[str, str], tmp_path: Path
) -> None:
    url, school = incidents_db
    file = tmp_path / "pupils.json"
    items = [
        {
            "upn": upn(7),
            "first_name": "Zoë",
            "last_name": "O'Brien",
            "year_group": "R",
            "date_of_birth": "2021-09-01",
        },
        {"upn": upn(8), "first_name": "Sam", "last_name": "Lee", "year_group": "2"},
    ]
    file.write_text(json.dumps({"items": items}), encoding="utf-8")

    done = haven(url, "admin", "import-students", "--school", school, str(file))

    assert done.returncode == 1
    assert "item 2: date_of_birth is required" in done.stdout
    assert list(await pupils_of(url, school)) == [upn(7)]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("upn,first,last\nA000000000001,a,b\n", "missing first_name, last_name"),
        ('{"pupils": []}', '{"items": [...]}'),
    ],
)
async def test_a_missing_file_or_bad_header_exits_2_with_one_line(
    incidents_db: tuple[str, str], tmp_path: Path, content: str | None, expected: str
) -> None:
    url, school = incidents_db
    file = tmp_path / ("pupils.json" if content and content.startswith("{") else "pupils.csv")
    if content is not None:
        file.write_text(content)

    done = haven(url, "admin", "import-students", "--school", school, str(file))

    assert done.returncode == 2
    assert expected in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert await pupils_of(url, school) == {}


async def test_an_unknown_school_exits_2_and_writes_nothing(
    incidents_db: tuple[str, str], tmp_path: Path
) -> None:
    url, _school = incidents_db
    file = tmp_path / "pupils.csv"
    file.write_text(HEADER + f"{upn(1)},Ann,Bee,5,2015-01-01\n")
    stranger = str(uuid.uuid4())

    done = haven(url, "admin", "import-students", "--school", stranger, str(file))

    assert done.returncode == 2
    assert done.stderr.strip() == f"haven: no school '{stranger}' in the incidents database"
    assert await pupils_of(url, stranger) == {}
