"""Opaque keyset cursors for newest-first lists (alerts, chronologies, audit logs).

A cursor is the position just after the last item of a page: its timestamp
and id, so items with the same timestamp are neither repeated nor skipped.
It is opaque to clients (base64 of JSON) and checked on the way back in.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime


class InvalidCursor(ValueError):
    """The cursor was not one this service handed out."""


@dataclass(frozen=True)
class Position:
    at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        raw = json.dumps({"t": self.at.isoformat(), "id": str(self.id)})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> Position:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            at = datetime.fromisoformat(data["t"])
            item_id = uuid.UUID(data["id"])
        except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
            raise InvalidCursor("is not a cursor from this service") from None
        if at.tzinfo is None:
            raise InvalidCursor("is not a cursor from this service")
        return cls(at, item_id)
