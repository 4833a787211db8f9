"""A pupil's chronology: how a page of it is sized and addressed.

Pages are addressed by keyset, not offset: the cursor is the (occurred_at, id)
of the last incident on the page, in newest-first order, so a page never
repeats or skips an incident when one is recorded meanwhile (an incident may
be recorded late, with an earlier occurred_at). The cursor is opaque to
clients (base64 of JSON) and carries nothing they could not already see.
"""

from __future__ import annotations

from haven_runtime.cursors import InvalidCursor as InvalidCursor
from haven_runtime.cursors import Position

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def page_size(limit: int) -> int:
    """How many incidents a page holds: 20 when unset, at most 100."""
    return DEFAULT_PAGE_SIZE if limit <= 0 else min(limit, MAX_PAGE_SIZE)


# The position just after an incident, in newest-first order.
ChronologyCursor = Position
