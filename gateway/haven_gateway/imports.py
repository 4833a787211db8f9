"""Import bodies for staff and pupils: JSON {items: [...]} or a CSV file, as numbered rows.

Either way each row carries a line number for error reports: the physical line
in a CSV file (header = line 1), or the row's position (1, 2, …) in `items`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError

from haven_gateway.csv_rows import CsvFileError, RowError, parse_csv
from haven_gateway.field_paths import field_errors
from haven_gateway.problems import FieldError, Problem, validation_failed

JSON_TYPES = ("application/json",)
# Browsers on Windows label .csv files application/vnd.ms-excel.
CSV_TYPES = ("text/csv", "application/csv", "application/vnd.ms-excel")


@dataclass(frozen=True)
class NumberedRows:
    rows: list[tuple[int, dict[str, str]]]
    errors: list[RowError]


async def read_import(
    request: Request,
    columns: Sequence[str],
    items_model: type[BaseModel],
) -> NumberedRows:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in CSV_TYPES:
        data = await request.body()  # bounded by the gateway's body limit
        try:
            table = parse_csv(data, columns)
        except CsvFileError as error:
            raise validation_failed([FieldError("body", str(error))], str(error)) from None
        return NumberedRows([(r.line, r.values) for r in table.rows], table.errors)
    if media_type in JSON_TYPES or media_type.endswith("+json"):
        data = await request.body()  # bounded by the gateway's body limit
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise Problem(400, "bad_request", "The body is not valid JSON.") from None
        try:
            parsed = items_model.model_validate(document)
        except ValidationError as error:
            raise validation_failed(field_errors(error.errors())) from None
        items: list[Any] = parsed.items  # type: ignore[attr-defined]
        return NumberedRows([(n, item.model_dump()) for n, item in enumerate(items, start=1)], [])
    raise Problem(
        415,
        "unsupported_media_type",
        'Send application/json {"items": [...]} or a text/csv file with a header line.',
    )


def merge_errors(*groups: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors found by the gateway and by the service, in file order."""
    merged = [e for group in groups for e in group]
    return sorted(merged, key=lambda e: e["line"])


def row_errors(errors: Sequence[RowError]) -> list[dict[str, Any]]:
    return [{"line": e.line, "field": e.field, "message": e.message} for e in errors]
