"""Alert paging and who gets an alert."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from haven_notifications.domain.alerts import (
    AlertCursor,
    InvalidCursor,
    InvalidPageSize,
    distinct_recipients,
    page_size,
)


def test_a_cursor_survives_the_round_trip_to_the_client_exactly() -> None:
    cursor = AlertCursor(datetime(2026, 11, 30, 10, 15, 0, 123456, tzinfo=UTC), uuid.uuid4())
    encoded = cursor.encode()
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    assert AlertCursor.decode(encoded) == cursor


@pytest.mark.parametrize("garbage", ["x", "not-a-cursor", "e30", "W10", "bnVsbA", "!!!"])
def test_a_cursor_the_service_did_not_hand_out_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidCursor):
        AlertCursor.decode(garbage)


def test_page_size_defaults_to_20_and_is_at_most_100() -> None:
    assert page_size(0) == 20
    assert page_size(7) == 7
    assert page_size(100) == 100
    assert page_size(1000) == 100
    with pytest.raises(InvalidPageSize):
        page_size(-1)


@dataclass
class R:
    user_id: str
    email: str = ""


def test_each_recipient_is_alerted_once_even_if_named_twice() -> None:
    chosen = distinct_recipients([R("a"), R("b"), R("a"), R(""), R("c"), R("b")])
    assert [r.user_id for r in chosen] == ["a", "b", "c"]
