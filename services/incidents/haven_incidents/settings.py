"""The incidents service's configuration (HAVEN_* environment variables)."""

from __future__ import annotations

from haven_runtime.config import ServiceSettings


class IncidentsSettings(ServiceSettings):
    grpc_port: int = 50052
    # Where identity answers GetStaff (a list or dns:/// name balances).
    identity_addr: str = "127.0.0.1:50051"
    # Deadline of each call to identity.
    identity_timeout_seconds: float = 5.0
    # Where files answers GetFile, to check files before they are attached.
    files_addr: str = "127.0.0.1:50054"
    # Deadline of each call to files.
    files_timeout_seconds: float = 5.0
