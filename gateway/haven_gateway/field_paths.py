"""Pydantic error locations as the field paths clients know: body_map[0].x.

Pydantic reports ("body", "body_map", 0, "x"); clients address fields the way
they wrote them in JSON, relative to the body (or the query parameter, header
or path segment that was wrong).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from haven_gateway.problems import FieldError

# Where FastAPI found the value; the name alone is enough for the client.
SOURCES = frozenset({"body", "query", "path", "header", "cookie"})


def field_path(loc: Sequence[int | str]) -> str:
    parts = list(loc)
    source = ""
    if parts and parts[0] in SOURCES:
        source = str(parts.pop(0))
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    # An error about the whole body (not an object, missing) has no field: name the body.
    return path or source


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic's error dicts as FieldErrors, without echoing the (maybe secret) input."""
    return [FieldError(field_path(e.get("loc", ())), _message(e)) for e in errors]


def _message(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "is invalid"))
    # Custom validators raise ValueError; pydantic prefixes it with "Value error, ".
    return message.removeprefix("Value error, ")
