"""Retiring a category or agency: no longer offered or accepted; past incidents keep it."""

from __future__ import annotations

import uuid

import grpc
import pytest

from haven.incidents.v1 import incidents_pb2 as pb
from haven_runtime.errors import from_rpc_error

from .incidents_harness import Incidents, as_user, record_incident, school_on_record


async def test_a_retired_category_and_agency_are_not_offered_nor_accepted_but_stay_on_past_incidents(
    incidents: Incidents,
) -> None:
    school = await school_on_record(incidents)
    category, agency = school.category_ids[0], school.agency_ids[0]
    author = str(uuid.uuid4())
    past = await record_incident(
        incidents, school, author, category_ids=[category], agency_ids=[agency]
    )
    admin = as_user(incidents, school.admin_id, {school.id: "admin"})
    for _ in range(2):  # retiring twice is harmless
        await incidents.stub.RetireCategory(
            pb.RetireRequest(school_id=school.id, id=category), metadata=admin
        )
        await incidents.stub.RetireAgency(
            pb.RetireRequest(school_id=school.id, id=agency), metadata=admin
        )

    staff = as_user(incidents, author, {school.id: "staff"})
    categories = await incidents.stub.ListCategories(
        pb.ListCategoriesRequest(school_id=school.id), metadata=staff
    )
    agencies = await incidents.stub.ListAgencies(
        pb.ListAgenciesRequest(school_id=school.id), metadata=staff
    )
    assert [c.id for c in categories.items] == school.category_ids[1:]
    assert [a.id for a in agencies.items] == school.agency_ids[1:]

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await record_incident(
            incidents,
            school,
            author,
            category_ids=[school.category_ids[1], category],
            agency_ids=[agency],
        )
    error = from_rpc_error(raised.value)
    assert error.reason == "validation_failed"
    assert [(v.field, v.message) for v in error.violations] == [
        ("category_ids[1]", "is retired"),
        ("agency_ids[0]", "is retired"),
    ]

    read = await incidents.stub.GetIncident(
        pb.GetIncidentRequest(incident_id=past.id), metadata=staff
    )
    assert [(c.id, c.name) for c in read.categories] == [(c.id, c.name) for c in past.categories]
    assert [(a.id, a.name) for a in read.agencies] == [(a.id, a.name) for a in past.agencies]
    (row,) = await incidents.sql(
        "SELECT retired_at FROM categories WHERE id = $1", uuid.UUID(category)
    )
    assert row["retired_at"] is not None


async def test_only_an_admin_of_the_school_may_retire_and_outsiders_cannot_tell_it_exists(
    incidents: Incidents,
) -> None:
    school = await school_on_record(incidents)
    other = await school_on_record(incidents, "Ash Academy")
    forbidden = (grpc.StatusCode.PERMISSION_DENIED, "forbidden")
    not_found = (grpc.StatusCode.NOT_FOUND, "not_found")
    mine = school.id
    ours = (school.category_ids[0], school.agency_ids[0])
    theirs = (other.category_ids[0], other.agency_ids[0])
    unknown = (str(uuid.uuid4()), str(uuid.uuid4()))
    cases = [
        ("staff", {mine: "staff"}, ours, forbidden),
        ("dsl", {mine: "dsl"}, ours, forbidden),
        ("admin elsewhere", {other.id: "admin"}, ours, not_found),
        ("admin, another school's entry", {mine: "admin"}, theirs, not_found),
        ("admin, unknown id", {mine: "admin"}, unknown, not_found),
        ("admin, malformed id", {mine: "admin"}, ("nope", "nope"), not_found),
    ]
    for who, schools, (category_id, agency_id), expected in cases:
        metadata = as_user(incidents, str(uuid.uuid4()), schools)
        for rpc, entry_id in (
            (incidents.stub.RetireCategory, category_id),
            (incidents.stub.RetireAgency, agency_id),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await rpc(pb.RetireRequest(school_id=mine, id=entry_id), metadata=metadata)
            error = from_rpc_error(raised.value)
            assert (error.code, error.reason) == expected, who
    staff = as_user(incidents, str(uuid.uuid4()), {mine: "staff"})
    listed = await incidents.stub.ListCategories(
        pb.ListCategoriesRequest(school_id=mine), metadata=staff
    )
    assert [c.id for c in listed.items] == school.category_ids
    listed = await incidents.stub.ListAgencies(
        pb.ListAgenciesRequest(school_id=mine), metadata=staff
    )
    assert [a.id for a in listed.items] == school.agency_ids
