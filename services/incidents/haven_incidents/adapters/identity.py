"""Identity, asked over gRPC who the staff of a school are.

Every call carries the caller's own internal token, so identity answers only
what that caller may know.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from haven.identity.v1 import identity_pb2, identity_pb2_grpc
from haven_incidents.domain.incidents import StaffMember
from haven_runtime.clients import call_metadata
from haven_runtime.errors import ServiceError
from haven_runtime.logging import get_logger

log = get_logger(__name__)

# More DSLs than this in one school would be a data problem, not a real school.
MAX_DSLS = 100


class IdentityUnavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "unavailable"


class StaffDirectory:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = 5.0):
        self._stub = identity_pb2_grpc.IdentityServiceStub(channel)
        self._timeout = timeout

    async def named_and_dsls(
        self, school_id: str, user_ids: Sequence[str]
    ) -> tuple[dict[str, StaffMember], list[StaffMember]]:
        """Those of `user_ids` who are staff of the school (unknown ids are left
        out), and the school's DSLs: one call to identity for both (two when
        identity is of a release that cannot answer both at once)."""
        ids = [u for u in dict.fromkeys(user_ids) if u.strip()]
        request = identity_pb2.GetStaffRequest(
            school_id=school_id, user_ids=ids, with_roles=["dsl"]
        )
        try:
            response = await self._stub.GetStaff(
                request, timeout=self._timeout, metadata=call_metadata()
            )
        except grpc.aio.AioRpcError as error:
            raise _unavailable(error) from None
        members = [m for m in response.items if m.school_id in ("", school_id)]
        wanted = set(ids)
        named = {m.id: _member(m) for m in members if m.id in wanted}
        if "dsl" not in response.roles_included:
            # An identity replica from before with_roles (a rolling upgrade):
            # it answered for the named staff only.
            return named, await self._dsls(school_id)
        dsls = [_member(m) for m in members if m.role == "dsl"][:MAX_DSLS]
        return named, dsls

    async def _dsls(self, school_id: str) -> list[StaffMember]:
        request = identity_pb2.ListStaffRequest(school_id=school_id, roles=["dsl"], limit=MAX_DSLS)
        try:
            response = await self._stub.ListStaff(
                request, timeout=self._timeout, metadata=call_metadata()
            )
        except grpc.aio.AioRpcError as error:
            raise _unavailable(error) from None
        return [
            _member(m) for m in response.items if m.role == "dsl" and m.school_id in ("", school_id)
        ]


def _member(m: identity_pb2.StaffMember) -> StaffMember:
    return StaffMember(id=m.id, name=m.name, email=m.email)


def _unavailable(error: grpc.aio.AioRpcError) -> ServiceError:
    log.warning("identity call failed", status=error.code().name)
    if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return IdentityUnavailable("identity is not answering; try again")
    return ServiceError("identity refused a staff lookup")
