"""Rules for a pupil imported from the school's management information system."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from haven_incidents.domain import names

MAX_NAME_LENGTH = 100

# A DfE unique pupil number: 13 characters, a check letter then 12 digits. A
# temporary UPN ends in a letter instead of the last digit. The check letter is
# not verified: MIS exports are trusted for it, and a wrong one is a nuisance to
# fix in the MIS, not a safeguarding risk.
_UPN = re.compile(r"[A-Z][0-9]{11}[0-9A-Z]")

# Nursery (N, N1, N2), reception (R) and years 1 to 13.
_YEAR_GROUPS = frozenset({"N", "N1", "N2", "R", *(str(n) for n in range(1, 14))})
_YEAR_PREFIX = re.compile(r"^(?:YEAR|Y)\s*")  # "YR" is reception: "R"


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str


@dataclass(frozen=True)
class StudentRecord:
    upn: str
    first_name: str
    last_name: str
    year_group: str
    date_of_birth: date

    @property
    def search_first(self) -> str:
        return names.search_key(self.first_name)

    @property
    def search_last(self) -> str:
        return names.search_key(self.last_name)

    @property
    def name_words(self) -> list[tuple[str, str]]:
        """(part, word) for every word of the name, first name first."""
        return [("first", w) for w in names.words(self.first_name)] + [
            ("last", w) for w in names.words(self.last_name)
        ]


@dataclass(frozen=True)
class StudentInput:
    line: int
    upn: str
    first_name: str
    last_name: str
    year_group: str
    date_of_birth: str


def normalise_upn(raw: str) -> str:
    return re.sub(r"\s+", "", raw).upper()


def normalise_year_group(raw: str) -> str:
    """ "Year 7", "Y7", "7", "r", "Reception" -> "7" / "R"."""
    text = " ".join(raw.split()).upper()
    if text == "RECEPTION":
        return "R"
    if text == "NURSERY":
        return "N"
    return _YEAR_PREFIX.sub("", text)


def _clean_name(raw: str) -> str:
    return " ".join(raw.split())


def validate_row(row: StudentInput, today: date) -> StudentRecord | list[RowError]:
    """A valid pupil, or every problem with the row (field names as in the API)."""
    errors: list[RowError] = []

    def problem(field: str, message: str) -> None:
        errors.append(RowError(row.line, field, message))

    upn = normalise_upn(row.upn)
    if not upn:
        problem("upn", "is required")
    elif not _UPN.fullmatch(upn):
        problem("upn", "must be 13 characters: a letter followed by 12 digits")

    first_name, last_name = _clean_name(row.first_name), _clean_name(row.last_name)
    for field, value in (("first_name", first_name), ("last_name", last_name)):
        if not value:
            problem(field, "is required")
        elif len(value) > MAX_NAME_LENGTH:
            problem(field, f"must be at most {MAX_NAME_LENGTH} characters")
        elif not names.words(value):
            problem(field, "must contain a letter")

    year_group = normalise_year_group(row.year_group)
    if not year_group:
        problem("year_group", "is required")
    elif year_group not in _YEAR_GROUPS:
        problem("year_group", "must be N, N1, N2, R or a year from 1 to 13")

    born: date | None = None
    raw_dob = row.date_of_birth.strip()
    if not raw_dob:
        problem("date_of_birth", "is required")
    else:
        try:
            born = date.fromisoformat(raw_dob)
        except ValueError:
            problem("date_of_birth", "must be a date written YYYY-MM-DD")
        else:
            if born > today:
                problem("date_of_birth", "must not be in the future")

    if errors:
        return errors
    assert born is not None
    return StudentRecord(upn, first_name, last_name, year_group, born)


@dataclass
class ValidatedImport:
    records: list[StudentRecord]
    errors: list[RowError]


def validate_import(rows: list[StudentInput], today: date) -> ValidatedImport:
    """Check every row; a UPN given twice is kept from its first row only."""
    records: list[StudentRecord] = []
    errors: list[RowError] = []
    first_line_of: dict[str, int] = {}
    for row in rows:
        result = validate_row(row, today)
        if isinstance(result, list):
            errors.extend(result)
        elif result.upn in first_line_of:
            errors.append(
                RowError(row.line, "upn", f"repeats the UPN of line {first_line_of[result.upn]}")
            )
        else:
            first_line_of[result.upn] = row.line
            records.append(result)
    return ValidatedImport(records, errors)
