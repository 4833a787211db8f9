"""A pupil's chronology: how a page of it is sized and addressed.

Pages are addressed by keyset, not offset: the cursor is the (occurred_at, id)
of the last incident on the page, in newest-first order, so a page never
repeats or skips an incident when one is recorded meanwhile (an incident may
be recorded late, with an earlier occurred_at). The cursor is opaque to
clients (base64 of JSON) and carries nothing they could not already see.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class InvalidCursor(ValueError):
    """The cursor was not one this service handed out."""


def page_size(limit: int) -> int:
    """How many incidents a page holds: 20 when unset, at most 100."""
    return DEFAULT_PAGE_SIZE if limit <= 0 else min(limit, MAX_PAGE_SIZE)


@dataclass(frozen=True)
class ChronologyCursor:
    """The position just after an incident, in newest-first order."""

    occurred_at: datetime
    incident_id: uuid.UUID

    def encode(self) -> str:
        raw = json.dumps({"t": self.occurred_at.isoformat(), "id": str(self.incident_id)})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> ChronologyCursor:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            occurred_at = datetime.fromisoformat(data["t"])
            incident_id = uuid.UUID(data["id"])
        except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
            raise InvalidCursor("is not a cursor from this service") from None
        if occurred_at.tzinfo is None:
            raise InvalidCursor("is not a cursor from this service")
        return cls(occurred_at, incident_id)
