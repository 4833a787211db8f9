"""A new school, announced by identity, gets its default categories and agencies once."""

from __future__ import annotations

import uuid

import grpc
import pytest

from haven.incidents.v1 import incidents_pb2 as pb
from haven_incidents.domain.defaults import DEFAULT_AGENCIES, DEFAULT_CATEGORIES

from .incidents_harness import Incidents


async def test_school_created_seeds_the_default_categories_once_even_when_delivered_twice(
    incidents: Incidents,
) -> None:
    school_id = str(uuid.uuid4())
    event_id = await incidents.publish_school_created(school_id, name="Oak Primary")
    # The same event again (a redelivery), and a second event for the same school.
    await incidents.publish_school_created(school_id, name="Oak Primary", event_id=event_id)
    await incidents.publish_school_created(school_id, name="Oak Primary")
    await incidents.wait_until_schools_consumed()

    staff = incidents.metadata(str(uuid.uuid4()), {school_id: "staff"})
    categories = await incidents.stub.ListCategories(
        pb.ListCategoriesRequest(school_id=school_id), metadata=staff
    )
    agencies = await incidents.stub.ListAgencies(
        pb.ListAgenciesRequest(school_id=school_id), metadata=staff
    )
    assert sorted(c.name for c in categories.items) == sorted(DEFAULT_CATEGORIES)
    assert sorted(a.name for a in agencies.items) == sorted(DEFAULT_AGENCIES)
    schools = await incidents.sql("SELECT id, trust_id, name FROM schools WHERE id = $1", school_id)
    assert [tuple(s) for s in schools] == [(school_id, "trust-1", "Oak Primary")]


async def test_categories_and_agencies_are_listed_by_name(incidents: Incidents) -> None:
    school_id = await incidents.new_school()
    staff = incidents.metadata(str(uuid.uuid4()), {school_id: "staff"})
    categories = await incidents.stub.ListCategories(
        pb.ListCategoriesRequest(school_id=school_id), metadata=staff
    )
    names = [c.name for c in categories.items]
    assert names == sorted(names, key=str.lower)
    assert "Child-on-child abuse" in names


async def test_a_school_the_caller_does_not_belong_to_is_not_found(incidents: Incidents) -> None:
    school_id = await incidents.new_school()
    other = await incidents.new_school()
    outsider = incidents.metadata(str(uuid.uuid4()), {other: "dsl"})
    for call, request in (
        (incidents.stub.ListCategories, pb.ListCategoriesRequest(school_id=school_id)),
        (incidents.stub.ListAgencies, pb.ListAgenciesRequest(school_id=school_id)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request, metadata=outsider)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_caller_with_one_school_may_leave_the_school_out(incidents: Incidents) -> None:
    school_id = await incidents.new_school()
    staff = incidents.metadata(str(uuid.uuid4()), {school_id: "staff"})
    agencies = await incidents.stub.ListAgencies(pb.ListAgenciesRequest(), metadata=staff)
    assert len(agencies.items) == len(DEFAULT_AGENCIES)


async def test_an_admin_adds_a_category_once_and_staff_cannot(incidents: Incidents) -> None:
    school_id = await incidents.new_school()
    admin = incidents.metadata(str(uuid.uuid4()), {school_id: "admin"})
    created = await incidents.stub.CreateCategory(
        pb.CreateCategoryRequest(school_id=school_id, name="  Prevent   referral "),
        metadata=admin,
    )
    assert created.name == "Prevent referral"
    listed = await incidents.stub.ListCategories(
        pb.ListCategoriesRequest(school_id=school_id), metadata=admin
    )
    assert created in listed.items

    with pytest.raises(grpc.aio.AioRpcError) as again:
        await incidents.stub.CreateCategory(
            pb.CreateCategoryRequest(school_id=school_id, name="prevent REFERRAL"), metadata=admin
        )
    assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS

    staff = incidents.metadata(str(uuid.uuid4()), {school_id: "staff"})
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await incidents.stub.CreateAgency(
            pb.CreateAgencyRequest(school_id=school_id, name="Youth offending team"),
            metadata=staff,
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_call_without_a_valid_token_is_unauthenticated(incidents: Incidents) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await incidents.stub.ListCategories(pb.ListCategoriesRequest(school_id="x"))
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as forged:
        await incidents.stub.ListCategories(
            pb.ListCategoriesRequest(school_id="x"), metadata=(("authorization", "Bearer nope"),)
        )
    assert forged.value.code() == grpc.StatusCode.UNAUTHENTICATED
