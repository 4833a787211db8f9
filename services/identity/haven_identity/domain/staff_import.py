"""Checking rows of a staff import: each bad row is reported by line and field, and skipped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from haven_identity.domain.emails import InvalidEmail, canonical_email
from haven_identity.domain.roles import SCHOOL_ROLES

MAX_NAME_LENGTH = 200
MAX_ROWS = 5000


@dataclass(frozen=True)
class StaffRowInput:
    email: str
    name: str
    role: str


@dataclass(frozen=True)
class StaffRow:
    line: int
    email: str
    name: str
    role: str


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str


def check_staff_rows(rows: Sequence[StaffRowInput]) -> tuple[list[StaffRow], list[RowError]]:
    """Split rows into good ones (canonical email, trimmed name, known role) and errors.

    Lines are numbered from 1 in the order given; the gateway adds one for a
    CSV header line if it sends the rows of a file.
    """
    good: list[StaffRow] = []
    errors: list[RowError] = []
    first_line_of: dict[str, int] = {}
    for index, row in enumerate(rows):
        line = index + 1
        row_errors: list[RowError] = []
        email = ""
        try:
            email = canonical_email(row.email)
        except InvalidEmail as error:
            message = "is required" if not row.email.strip() else str(error)
            row_errors.append(RowError(line, "email", message))
        name = " ".join(row.name.split())
        if not name:
            row_errors.append(RowError(line, "name", "is required"))
        elif len(name) > MAX_NAME_LENGTH:
            row_errors.append(
                RowError(line, "name", f"must be at most {MAX_NAME_LENGTH} characters")
            )
        role = row.role.strip().lower()
        if role not in SCHOOL_ROLES:
            row_errors.append(RowError(line, "role", "must be one of " + ", ".join(SCHOOL_ROLES)))
        if email and email in first_line_of:
            row_errors.append(
                RowError(
                    line, "email", f"appears more than once (first on line {first_line_of[email]})"
                )
            )
        if row_errors:
            errors.extend(row_errors)
            continue
        first_line_of[email] = line
        good.append(StaffRow(line, email, name, role))
    return good, errors
