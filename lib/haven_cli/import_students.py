"""`haven admin import-students`: load a school's pupils from a CSV or JSON file of any size.

The rows go through the incidents service's own import handler (the same
validation and upsert as the ImportStudents RPC), run directly against the
incidents database in batches, as an admin of the school called "command
line": the operator runs this on the machine that runs the stack, so the
database URL is their credential, not a token.
"""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("upn", "first_name", "last_name", "year_group", "date_of_birth")
BATCH_SIZE = 1_000
ERRORS_SHOWN = 20


class ImportFileError(Exception):
    """The file cannot be read as pupils at all (missing, bad header, not JSON)."""


@dataclass(frozen=True)
class BadRow:
    line: int
    field: str
    message: str


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    rows: int = 0
    errors: list[BadRow] | None = None


def _text(value: object) -> str:
    return "" if value is None else str(value)


class PupilFile:
    """A pupil file's rows, read lazily; `line` is the CSV line, or the JSON item's number."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ImportFileError(f"{path}: no such file")
        self.path = path
        self.is_json = path.suffix.lower() == ".json" or self._starts_with_brace()
        self._items: list[object] | None = None
        if self.is_json:
            self._items = self._json_items()
        else:
            self._check_csv_header()

    def _starts_with_brace(self) -> bool:
        with self.path.open(encoding="utf-8-sig", errors="replace") as handle:
            return handle.read(64).lstrip().startswith(("{", "["))

    def _json_items(self) -> list[object]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ImportFileError(f"{self.path}: not valid JSON ({error})") from None
        items = document.get("items") if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise ImportFileError(f'{self.path}: expected a JSON object {{"items": [...]}}')
        return items

    def _check_csv_header(self) -> None:
        try:
            with self.path.open(encoding="utf-8-sig", newline="") as handle:
                header = next(csv.reader(handle), [])
        except UnicodeDecodeError:
            raise ImportFileError(f"{self.path}: not UTF-8 text") from None
        names = [h.strip().lower() for h in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise ImportFileError(
                f"{self.path}: the header must name the columns {','.join(COLUMNS)} "
                f"(missing {', '.join(missing)})"
            )

    def count(self) -> int:
        if self._items is not None:
            return len(self._items)
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)

    def rows(self) -> Iterator[tuple[int, dict[str, str] | None]]:
        """(line, fields), or (line, None) for an item that is not an object."""
        if self._items is not None:
            for number, item in enumerate(self._items, start=1):
                if isinstance(item, dict):
                    yield number, {c: _text(item.get(c)).strip() for c in COLUMNS}
                else:
                    yield number, None
            return
        with self.path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = [h.strip().lower() for h in next(reader)]
            index = {c: header.index(c) for c in COLUMNS}
            for fields in reader:
                if not any(f.strip() for f in fields):
                    continue  # blank lines, as spreadsheets leave at the end
                yield (
                    reader.line_num,
                    {c: fields[i] if i < len(fields) else "" for c, i in index.items()},
                )


async def school_exists(database_url: str, school_id: str) -> bool:
    from sqlalchemy import select

    from haven_incidents.adapters.orm import School
    from haven_runtime.db import Database

    db = Database(database_url, pool_size=1)
    try:
        async with db.sessions() as session:
            return (
                await session.scalar(select(School.id).where(School.id == school_id))
            ) is not None
    finally:
        await db.dispose()


async def import_file(
    database_url: str, school_id: str, pupils: PupilFile, *, progress: bool
) -> ImportSummary:
    from tqdm import tqdm

    from haven_incidents.domain.students import StudentInput, normalise_upn
    from haven_incidents.service_layer.students import import_students
    from haven_runtime.auth import Principal
    from haven_runtime.db import Database

    operator = Principal(
        user_id="command-line",
        session_id="",
        name="command line",
        email="",
        schools={school_id: "admin"},
    )
    summary = ImportSummary(errors=[])
    errors: list[BadRow] = []
    # The handler finds a UPN repeated within one batch; this finds it across batches.
    first_line_of: dict[str, int] = {}
    db = Database(database_url, pool_size=1)
    bar = tqdm(
        total=pupils.count(), unit=" pupils", file=sys.stderr, disable=None if progress else True
    )
    try:
        batch: list[StudentInput] = []

        async def send() -> None:
            if not batch:
                return
            result = await import_students(db, operator, school_id, batch)
            summary.created += result.created
            summary.updated += result.updated
            errors.extend(BadRow(e.line, e.field, e.message) for e in result.errors)
            bar.update(len(batch))
            batch.clear()

        for line, fields in pupils.rows():
            summary.rows += 1
            if fields is None:
                errors.append(BadRow(line, "item", "must be an object"))
                bar.update(1)
                continue
            upn = normalise_upn(fields["upn"])
            if upn and upn in first_line_of:
                errors.append(BadRow(line, "upn", f"repeats the UPN of line {first_line_of[upn]}"))
                bar.update(1)
                continue
            if upn:
                first_line_of[upn] = line
            batch.append(StudentInput(line=line, **fields))
            if len(batch) >= BATCH_SIZE:
                await send()
        await send()
        # A large import changes the name index's statistics enough that the
        # search planner picks a sequential scan until autovacuum catches up;
        # refresh them now.
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE students, student_name_words")
    finally:
        bar.close()
        await db.dispose()
    summary.errors = sorted(errors, key=lambda e: e.line)
    return summary


def write_errors(path: Path, errors: list[BadRow]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "field", "message"])
        writer.writerows([e.line, e.field, e.message] for e in errors)


def run(database_url: str, school_id: str, file: Path, errors_file: Path | None) -> int:
    """Import and report; 0 when every row went in, 1 when some were refused.

    Raises ImportFileError (or LookupError for an unknown school) before
    anything is written.
    """
    from haven_runtime.logging import configure_logging

    # The handler logs each batch; the operator wants the bar and the summary.
    configure_logging("haven-cli", "WARNING")
    pupils = PupilFile(file)
    if not asyncio.run(school_exists(database_url, school_id)):
        raise LookupError(f"no school {school_id!r} in the incidents database")
    summary = asyncio.run(import_file(database_url, school_id, pupils, progress=True))
    errors = summary.errors or []
    unit = "item" if pupils.is_json else "line"
    print(
        f"{summary.rows - len({e.line for e in errors})} of {summary.rows} pupils imported "
        f"({summary.created} new, {summary.updated} updated)"
    )
    if errors:
        lines = sorted({e.line for e in errors})
        print(f"{len(lines)} {unit}s refused:")
        for error in errors[:ERRORS_SHOWN]:
            print(f"  {unit} {error.line}: {error.field} {error.message}")
        if len(errors) > ERRORS_SHOWN:
            hint = f" (all in {errors_file})" if errors_file else " (--errors FILE writes them all)"
            print(f"  ... and {len(errors) - ERRORS_SHOWN} more{hint}")
    if errors_file is not None:
        write_errors(errors_file, errors)
    return 1 if errors else 0
