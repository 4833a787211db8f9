"""Import files (text/csv) as rows that remember the physical line they came from.

An admin fixes a spreadsheet by line number, so every row carries the line on
which it starts in the file (the header is line 1; a quoted value spanning two
lines makes the next row start two lines later; blank lines are counted and
skipped). A missing or wrong header fails the whole file with a message that
says what the header must be; a row with the wrong number of values is reported
on its line and skipped, like any other bad row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

STAFF_COLUMNS = ("email", "name", "role")
STUDENT_COLUMNS = ("upn", "first_name", "last_name", "year_group", "date_of_birth")


class CsvFileError(Exception):
    """The file as a whole cannot be read as the import it claims to be."""


@dataclass(frozen=True)
class CsvRow:
    line: int
    values: dict[str, str]


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str


@dataclass
class CsvTable:
    rows: list[CsvRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def parse_csv(data: bytes, columns: Sequence[str]) -> CsvTable:
    """Rows keyed by column name, each with its starting line; raises CsvFileError."""
    text = _decode(data)
    expected = ", ".join(columns)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise CsvFileError(f"line 1 is not valid CSV ({error})") from None
    names = [cell.strip().lower() for cell in header or []]
    while names and not names[-1]:
        names.pop()  # spreadsheets leave trailing empty cells
    if not names:
        raise CsvFileError(f"the file has no header: line 1 must be {','.join(columns)}")
    _check_header(names, columns)

    table = CsvTable()
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader, None)
        except csv.Error as error:
            # An unterminated quote swallows the rest of the file: nothing after it is a row.
            table.errors.append(RowError(line, "row", f"not valid CSV ({error})"))
            break
        if cells is None:
            break
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(names) and not any(c.strip() for c in cells[len(names) :]):
            cells = cells[: len(names)]
        if len(cells) != len(names):
            table.errors.append(
                RowError(
                    line, "row", f"expected {len(names)} values ({expected}), found {len(cells)}"
                )
            )
            continue
        values = {name: cell.strip() for name, cell in zip(names, cells, strict=True)}
        table.rows.append(CsvRow(line, values))
    return table


def _decode(data: bytes) -> str:
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts the file with a byte-order mark.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvFileError(
            'the file is not UTF-8 text; save it as "CSV UTF-8" and try again'
        ) from None


def _check_header(names: list[str], columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in names]
    unknown = [n for n in names if n not in columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    if unknown:
        problems.append("unknown " + ", ".join(_short(u) for u in unknown[:5]))
    if duplicated:
        problems.append("repeated " + ", ".join(duplicated))
    if problems:
        raise CsvFileError(f"line 1 must be the header {','.join(columns)} ({'; '.join(problems)})")


def _short(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")
