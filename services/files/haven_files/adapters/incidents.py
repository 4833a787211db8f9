"""Incidents, asked over gRPC whether the caller may see the incident that holds a file.

The call carries the caller's own internal token, so incidents applies its
own rules (the author, the staff it alerted, the school's DSLs, while they
are members) and files never keeps a copy of them. Incidents answers
NotFound for an incident the caller may not see; so does files, for the file.
The check shows nothing of the incident, so incidents records nothing for it;
the download itself reaches the incident's trail through FileDownloaded.
"""

from __future__ import annotations

import grpc

from haven.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from haven_runtime.clients import call_metadata, channel
from haven_runtime.errors import ServiceError
from haven_runtime.logging import get_logger

log = get_logger(__name__)

DENIED = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)


class IncidentsUnavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "unavailable"


class IncidentAccess:
    def __init__(self, address: str, *, timeout: float):
        self._address = address
        self._timeout = timeout
        self._channel: grpc.aio.Channel | None = None
        self._stub: incidents_pb2_grpc.IncidentsServiceStub | None = None

    def _incidents(self) -> incidents_pb2_grpc.IncidentsServiceStub:
        # Made on first use, inside the running event loop that grpc.aio needs.
        if self._stub is None:
            self._channel = channel(self._address)
            self._stub = incidents_pb2_grpc.IncidentsServiceStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel, self._stub = None, None

    async def may_see(self, incident_id: str) -> bool:
        """Whether the current caller may see the incident; raises if incidents cannot say."""
        try:
            await self._incidents().CheckIncidentAccess(
                incidents_pb2.GetIncidentRequest(incident_id=incident_id),
                timeout=self._timeout,
                metadata=call_metadata(),
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in DENIED:
                return False
            log.warning("incidents could not say who may see a file", status=error.code().name)
            raise IncidentsUnavailable(
                "incidents is not answering, so the file cannot be shown; try again"
            ) from None
        return True
