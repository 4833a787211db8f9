"""Dashboard alerts: who gets one, and how a page of them is addressed.

A member of staff gets one alert per incident however often the event
arrives; that rule is kept by a unique (user_id, incident_id) in the database,
and by taking each recipient once here.

Pages are addressed by keyset, not offset: the cursor is the (created_at, id)
of the last alert on the page, so a page never repeats or skips an alert when
new ones arrive meanwhile. It is opaque to clients (base64 of JSON) and
carries nothing they could not already see.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from haven_runtime.cursors import InvalidCursor as InvalidCursor
from haven_runtime.cursors import Position

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class NamedRef:
    id: str
    name: str


@dataclass(frozen=True)
class AlertView:
    """An alert as the member's dashboard shows it."""

    id: uuid.UUID
    incident_id: str
    school_id: str
    student_id: str
    student_display_name: str
    categories: list[NamedRef]
    recorded_by: NamedRef
    occurred_at: datetime | None
    created_at: datetime
    read_at: datetime | None


class InvalidPageSize(ValueError):
    """The limit asked for is negative."""


class HasUserId(Protocol):
    @property
    def user_id(self) -> str: ...


R = TypeVar("R", bound=HasUserId)


def distinct_recipients(recipients: Iterable[R]) -> list[R]:
    """Each user once, in the order given; entries without a user id are dropped."""
    seen: set[str] = set()
    chosen: list[R] = []
    for recipient in recipients:
        if recipient.user_id and recipient.user_id not in seen:
            seen.add(recipient.user_id)
            chosen.append(recipient)
    return chosen


def page_size(limit: int) -> int:
    """The number of alerts to return: 20 when unset, at most 100."""
    if limit < 0:
        raise InvalidPageSize("limit must not be negative")
    if limit == 0:
        return DEFAULT_PAGE_SIZE
    return min(limit, MAX_PAGE_SIZE)


# The position just after an alert, in newest-first order.
AlertCursor = Position
