"""The gRPC servicer: each request becomes a handler call for the verified caller."""

from __future__ import annotations

from datetime import datetime

import grpc

from haven.notifications.v1 import notifications_pb2 as pb
from haven.notifications.v1 import notifications_pb2_grpc as pb_grpc
from haven_notifications.domain.alerts import AlertView
from haven_notifications.service_layer import handlers
from haven_runtime.context import current_principal
from haven_runtime.db import Database
from haven_runtime.events import timestamp
from haven_runtime.server import Registrar

PRODUCER = "notifications"


class NotificationsServicer(pb_grpc.NotificationsServiceServicer):
    def __init__(self, db: Database):
        self.db = db

    async def ListAlerts(  # noqa: N802 - gRPC's method name
        self, request: pb.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAlertsResponse:
        principal = current_principal()
        async with self.db.unit_of_work(PRODUCER) as uow:
            page = await handlers.list_alerts(
                uow, principal, limit=request.limit, cursor=request.cursor
            )
        return pb.ListAlertsResponse(
            items=[alert_message(a) for a in page.items],
            next_cursor=page.next_cursor,
            unread_count=page.unread_count,
        )

    async def MarkAlertRead(  # noqa: N802 - gRPC's method name
        self, request: pb.MarkAlertReadRequest, context: grpc.aio.ServicerContext
    ) -> pb.MarkAlertReadResponse:
        principal = current_principal()
        async with self.db.unit_of_work(PRODUCER) as uow:
            await handlers.mark_alert_read(uow, principal, request.alert_id)
        return pb.MarkAlertReadResponse()


def alert_message(alert: AlertView) -> pb.Alert:
    message = pb.Alert(
        id=str(alert.id),
        incident_id=alert.incident_id,
        school_id=alert.school_id,
        student_id=alert.student_id,
        student_display_name=alert.student_display_name,
        categories=[pb.NamedRef(id=c.id, name=c.name) for c in alert.categories],
        recorded_by=pb.NamedRef(id=alert.recorded_by.id, name=alert.recorded_by.name),
        created_at=timestamp(alert.created_at),
    )
    _set_time(message, "occurred_at", alert.occurred_at)
    _set_time(message, "read_at", alert.read_at)
    return message


def _set_time(message: pb.Alert, field: str, at: datetime | None) -> None:
    # Left unset (not the epoch) when there is no time: "unread" is read_at unset.
    if at is not None:
        getattr(message, field).CopyFrom(timestamp(at))


def registrar(db: Database) -> Registrar:
    """The Registrar for Service.run: adds the servicer, returns its full name."""

    def add(server: grpc.aio.Server) -> list[str]:
        pb_grpc.add_NotificationsServiceServicer_to_server(NotificationsServicer(db), server)
        return [pb.DESCRIPTOR.services_by_name["NotificationsService"].full_name]

    return add
