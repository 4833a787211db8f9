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

import base64
import binascii
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

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


class InvalidCursor(ValueError):
    """The cursor was not one this service handed out."""


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


@dataclass(frozen=True)
class AlertCursor:
    """The position just after an alert, in newest-first order."""

    created_at: datetime
    alert_id: uuid.UUID

    def encode(self) -> str:
        raw = json.dumps({"t": self.created_at.isoformat(), "id": str(self.alert_id)})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> AlertCursor:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            created_at = datetime.fromisoformat(data["t"])
            alert_id = uuid.UUID(data["id"])
        except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
            raise InvalidCursor("not a cursor from this service") from None
        if created_at.tzinfo is None:
            raise InvalidCursor("not a cursor from this service")
        return cls(created_at, alert_id)
