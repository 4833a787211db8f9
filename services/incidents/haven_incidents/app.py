"""Wiring: the incidents service's servicer, its consumer of identity's events, and peers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from haven.files.v1.files_pb2 import FileDownloaded
from haven.identity.v1.identity_pb2 import SchoolCreated
from haven.incidents.v1 import incidents_pb2, incidents_pb2_grpc
from haven_incidents.adapters.files import FileCatalogue
from haven_incidents.adapters.identity import StaffDirectory
from haven_incidents.entrypoints.grpc import IncidentsServicer
from haven_incidents.service_layer.handlers import on_file_downloaded, on_school_created
from haven_incidents.settings import IncidentsSettings
from haven_runtime import clients
from haven_runtime.server import Registrar, Service

NAME = "incidents"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def build_service(settings: IncidentsSettings) -> tuple[Service, Registrar]:
    service = Service(NAME, settings, migrations_dir=MIGRATIONS_DIR)
    service.consume("incidents-schools", {SchoolCreated: on_school_created})
    service.consume("incidents-file-downloads", {FileDownloaded: on_file_downloaded})

    identity_channel = clients.channel(settings.identity_addr)
    service.on_stop.append(identity_channel.close)
    directory = StaffDirectory(identity_channel, timeout=settings.identity_timeout_seconds)
    files_channel = clients.channel(settings.files_addr)
    service.on_stop.append(files_channel.close)
    files = FileCatalogue(files_channel, timeout=settings.files_timeout_seconds)
    servicer = IncidentsServicer(service.db, directory, files)

    def register(server: grpc.aio.Server) -> Sequence[str]:
        incidents_pb2_grpc.add_IncidentsServiceServicer_to_server(servicer, server)
        return [incidents_pb2.DESCRIPTOR.services_by_name["IncidentsService"].full_name]

    return service, register


async def serve(settings: IncidentsSettings) -> None:
    service, register = build_service(settings)
    await service.run(register)
