"""Sessions and audit events as the API's JSON."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from haven.identity.v1 import identity_pb2
from haven_gateway.presenters import audit_detail, audit_event, session


def stamp(iso: str) -> Timestamp:
    t = Timestamp()
    t.FromJsonString(iso)
    return t


def test_a_session_gives_its_times_as_rfc3339_and_unset_ones_as_null():
    shown = session(
        identity_pb2.SessionInfo(
            id="s1", created_at=stamp("2026-11-30T08:00:00Z"), client="Firefox", current=True
        )
    )
    assert shown["created_at"] == "2026-11-30T08:00:00+00:00"
    assert (shown["last_seen_at"], shown["elevated_until"]) == (None, None)
    assert (shown["client"], shown["current"]) == ("Firefox", True)


def test_an_anonymous_audit_event_has_no_actor_and_empty_values_are_null():
    shown = audit_event(
        identity_pb2.AuditEvent(id="e1", action="login_failed", subject_email="x@y.org")
    )
    assert shown["actor"] is None
    assert shown["subject"] == {"id": None, "email": "x@y.org"}
    assert (shown["school_id"], shown["trust_id"], shown["client_address"]) == (None, None, None)
    assert shown["detail"] == {}


def test_the_audit_detail_is_always_an_object():
    assert audit_detail('{"role": "dsl"}') == {"role": "dsl"}
    assert audit_detail("[1, 2]") == {"value": [1, 2]}
    assert audit_detail("not json") == {"text": "not json"}
    assert audit_detail("") == {}
