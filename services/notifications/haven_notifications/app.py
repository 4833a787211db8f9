"""Wiring: the servicer, the event consumers and the email dispatcher, around one Service."""

from __future__ import annotations

import functools
from pathlib import Path

from haven.identity.v1.identity_pb2 import (
    PasswordChanged,
    PasswordResetRequested,
    SoftKeyReset,
)
from haven.incidents.v1.incidents_pb2 import IncidentRecorded
from haven_notifications.adapters.email_queue import EmailQueue
from haven_notifications.adapters.smtp import SmtpMailer
from haven_notifications.domain.delivery import RetryPolicy
from haven_notifications.entrypoints.grpc import registrar
from haven_notifications.service_layer import handlers
from haven_notifications.service_layer.email_dispatcher import EmailDispatcher
from haven_notifications.settings import NotificationsSettings
from haven_runtime import metrics
from haven_runtime.server import Registrar, Service

NAME = "notifications"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_service(settings: NotificationsSettings) -> tuple[Service, Registrar]:
    service = Service(NAME, settings, migrations_dir=MIGRATIONS_DIR)
    service.consume(
        "notifications-alerts",
        {
            IncidentRecorded: functools.partial(
                handlers.on_incident_recorded, public_url=settings.public_url
            )
        },
    )
    service.consume(
        "notifications-identity",
        {
            PasswordResetRequested: handlers.on_password_reset_requested,
            PasswordChanged: handlers.on_password_changed,
            SoftKeyReset: handlers.on_soft_key_reset,
        },
    )
    service.background.append(build_dispatcher(service, settings).run)
    service.background.append(metrics.periodically(email_queue_depth(service)))
    return service, registrar(service.db)


def build_dispatcher(service: Service, settings: NotificationsSettings) -> EmailDispatcher:
    return EmailDispatcher(
        EmailQueue(service.db, message_id_domain=settings.from_domain),
        SmtpMailer(settings),
        RetryPolicy(
            max_attempts=settings.email_max_attempts,
            base_seconds=settings.email_retry_base_seconds,
            cap_seconds=settings.email_retry_cap_seconds,
        ),
        listen_url=service.db.url,
        sender=settings.smtp_from,
        send_timeout_seconds=settings.smtp_timeout_seconds,
    )


async def serve(settings: NotificationsSettings) -> None:
    service, register = build_service(settings)
    await service.run(register)


def email_queue_depth(service: Service) -> metrics.Sample:
    sql = "SELECT count(*) FROM emails WHERE status IN ('queued', 'sending')"
    return metrics.query_gauge(metrics.EMAIL_QUEUE_DEPTH, service.db, sql)
