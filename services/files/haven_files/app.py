"""Wiring: the files service's servicer, consumers and background jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import grpc

from haven.files.v1 import files_pb2_grpc
from haven.incidents.v1.incidents_pb2 import IncidentRecorded
from haven_files.adapters.incidents import IncidentAccess
from haven_files.adapters.object_store import ObjectStore
from haven_files.adapters.unclaimed import UnclaimedObjects
from haven_files.domain.encryption import MasterKey
from haven_files.entrypoints.grpc import SERVICE_NAME, FilesServicer
from haven_files.service_layer.cleanup import FileJanitor
from haven_files.service_layer.handlers import FilesDependencies, on_incident_recorded
from haven_files.settings import FilesSettings
from haven_runtime.server import Registrar, Service

MIGRATIONS = Path(__file__).parent / "migrations"


def build_service(settings: FilesSettings) -> tuple[Service, Registrar]:
    service = Service("files", settings, migrations_dir=MIGRATIONS)
    store = ObjectStore.from_settings(settings)
    service.background.append(store.keep_bucket_ready)
    janitor = FileJanitor(
        service.db,
        store,
        staged_ttl=timedelta(hours=settings.staged_file_ttl_hours),
        interval_seconds=settings.cleanup_interval_seconds,
    )
    service.background.append(janitor.run)
    service.consume("files-attachments", {IncidentRecorded: on_incident_recorded})
    incidents = IncidentAccess(settings.incidents_addr, timeout=settings.incidents_timeout_seconds)
    service.on_stop.append(incidents.close)
    deps = FilesDependencies(
        db=service.db,
        store=store,
        master_key=MasterKey(settings.master_key_bytes),
        max_upload_bytes=settings.max_upload_bytes,
        unclaimed=UnclaimedObjects(service.db),
        upload_abandoned_after=timedelta(minutes=settings.upload_abandoned_after_minutes),
        incidents=incidents,
    )

    def register(server: grpc.aio.Server) -> Sequence[str]:
        files_pb2_grpc.add_FilesServiceServicer_to_server(FilesServicer(deps), server)
        return [SERVICE_NAME]

    return service, register


async def serve(settings: FilesSettings) -> None:
    service, register = build_service(settings)
    await service.run(register)
