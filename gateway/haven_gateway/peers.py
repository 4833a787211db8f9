"""The four services behind the gateway: one channel each, and how to call them.

Every call has a deadline, carries the request id, and carries the caller's
internal token from identity.Authenticate — never anything the client sent.
A failed call becomes the Problem the client sees.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from haven.files.v1 import files_pb2_grpc
from haven.identity.v1 import identity_pb2_grpc
from haven.incidents.v1 import incidents_pb2_grpc
from haven.notifications.v1 import notifications_pb2_grpc
from haven_gateway.admission import Admission
from haven_gateway.problems import problem_from_remote
from haven_gateway.settings import GatewaySettings
from haven_runtime.clients import call_metadata, channel
from haven_runtime.errors import from_rpc_error

R = TypeVar("R")

SERVICE_NAMES = ("identity", "incidents", "notifications", "files")


class Peers:
    """Channels and stubs, opened at start-up and closed at shutdown."""

    def __init__(self, settings: GatewaySettings, admission: Admission | None = None):
        self.settings = settings
        # Every call first takes its request's place among those waiting on the services.
        self.admission = admission or Admission(0)
        self.channels: dict[str, grpc.aio.Channel] = {
            "identity": channel(settings.identity_addr),
            "incidents": channel(settings.incidents_addr),
            "notifications": channel(settings.notifications_addr),
            "files": channel(settings.files_addr),
        }
        self.identity = identity_pb2_grpc.IdentityServiceStub(self.channels["identity"])
        self.incidents = incidents_pb2_grpc.IncidentsServiceStub(self.channels["incidents"])
        self.notifications = notifications_pb2_grpc.NotificationsServiceStub(
            self.channels["notifications"]
        )
        self.files = files_pb2_grpc.FilesServiceStub(self.channels["files"])

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.channels.values()))

    async def call(
        self,
        method: Callable[..., Awaitable[R]],
        request: Any,
        *,
        token: str = "",
        deadline: float | None = None,
    ) -> R:
        """Call `method` with a deadline; raise the client's Problem if it fails.

        `token` is the caller's internal token ("" for the public calls made
        before anyone is authenticated). Raises 503 overloaded, without calling,
        when the request has no place yet and none is free (admission.py).
        """
        self.admission.admit()
        try:
            return await method(
                request,
                timeout=deadline or self.settings.rpc_deadline_seconds,
                metadata=metadata(token),
            )
        except grpc.aio.AioRpcError as error:
            raise problem_from_remote(from_rpc_error(error)) from None

    async def readiness(self) -> dict[str, str]:
        """Each service's standard health answer: "serving" or what went wrong."""
        names = list(self.channels)
        answers = await asyncio.gather(*(self._health(self.channels[n]) for n in names))
        return dict(zip(names, answers, strict=True))

    async def _health(self, chan: grpc.aio.Channel) -> str:
        stub = health_pb2_grpc.HealthStub(chan)
        try:
            answer = await stub.Check(
                health_pb2.HealthCheckRequest(service=""),
                timeout=self.settings.readiness_deadline_seconds,
            )
        except grpc.aio.AioRpcError as error:
            return "unreachable" if error.code() in _UNREACHABLE else error.code().name.lower()
        return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status).lower()


_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def metadata(token: str) -> tuple[tuple[str, str], ...]:
    # An explicit "" stops call_metadata from falling back to a token in context:
    # the gateway forwards exactly the token it was handed for this caller.
    return call_metadata(token=token)
