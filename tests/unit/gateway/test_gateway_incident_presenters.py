"""Addenda and incident views as the API's JSON."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from haven.incidents.v1 import incidents_pb2
from haven_gateway.presenters import incident, incident_view


def stamp(iso: str) -> Timestamp:
    t = Timestamp()
    t.FromJsonString(iso)
    return t


def test_an_incident_lists_its_addenda_in_the_order_the_service_gives_them():
    shown = incident(
        incidents_pb2.Incident(
            id="inc-1",
            addenda=[
                incidents_pb2.Addendum(
                    id="a1",
                    text="First.",
                    author=incidents_pb2.NamedRef(id="u1", name="Ann"),
                    created_at=stamp("2026-11-30T10:00:00Z"),
                ),
                incidents_pb2.Addendum(id="a2", text="Second."),
            ],
        ),
        files=[],
    )
    assert shown["addenda"] == [
        {
            "id": "a1",
            "text": "First.",
            "author": {"id": "u1", "name": "Ann"},
            "created_at": "2026-11-30T10:00:00+00:00",
        },
        {"id": "a2", "text": "Second.", "author": None, "created_at": None},
    ]


def test_a_view_names_the_file_only_for_a_download_and_empty_values_are_null():
    viewed = incident_view(
        incidents_pb2.IncidentView(
            user=incidents_pb2.NamedRef(id="u1", name="Ann"),
            action="viewed",
            at=stamp("2026-11-30T10:00:00Z"),
        )
    )
    assert viewed == {
        "user": {"id": "u1", "name": "Ann"},
        "action": "viewed",
        "at": "2026-11-30T10:00:00+00:00",
        "client_address": None,
        "file_id": None,
    }
    downloaded = incident_view(
        incidents_pb2.IncidentView(action="file_downloaded", file_id="f1", client_address="::1")
    )
    assert (downloaded["file_id"], downloaded["client_address"]) == ("f1", "::1")
