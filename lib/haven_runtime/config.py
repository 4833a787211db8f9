"""Configuration, read once from HAVEN_* environment variables into a frozen object.

A missing or malformed value stops the process with one line that names the
variable, rather than a traceback or a half-configured service.
"""

from __future__ import annotations

import sys
from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "HAVEN_"


class HavenSettings(BaseSettings):
    """Settings every process has. Services subclass it and add their own."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="ignore")

    env: Literal["development", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Prometheus metrics on their own port (0: none), apart from the API port.
    metrics_port: int = Field(0, ge=0, le=65535)


class ServiceSettings(HavenSettings):
    """Settings of a gRPC service with its own database and the event bus."""

    database_url: str
    nats_url: str = "nats://127.0.0.1:4222"
    grpc_host: str = "0.0.0.0"
    grpc_port: int
    # Ed25519 public key (PEM) that verifies the internal identity token.
    token_public_key: str
    migrate_on_start: bool = False
    shutdown_grace_seconds: float = 20.0
    db_pool_size: int = 10


S = TypeVar("S", bound=HavenSettings)


def describe_error(error: ValidationError) -> str:
    """One line naming the first offending HAVEN_* variable."""
    first = error.errors()[0]
    name = PREFIX + "_".join(str(part) for part in first["loc"]).upper()
    if first["type"] == "missing":
        return f"configuration error: {name} is required but not set"
    return f"configuration error: {name}: {first['msg']}"


def load_settings(cls: type[S]) -> S:
    """Read settings or exit with status 2 and a one-line message."""
    try:
        return cls()
    except ValidationError as error:
        print(f"haven: {describe_error(error)}", file=sys.stderr)
        raise SystemExit(2) from None
