"""Files' configuration: the common service settings plus its own HAVEN_* variables."""

from __future__ import annotations

import base64
import binascii

from pydantic import Field, SecretStr, field_validator

from haven_runtime.config import ServiceSettings

MASTER_KEY_BYTES = 32


class FilesSettings(ServiceSettings):
    grpc_port: int = 50054
    # S3 (MinIO in a cluster, SeaweedFS's S3 gateway locally): host:port, no scheme.
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: SecretStr
    s3_bucket: str = "haven-files"
    s3_secure: bool = False
    # None lets the client ask the server; set it to save that round trip on AWS.
    s3_region: str | None = None
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    # Base64 of 32 random bytes. It wraps each file's own data key; losing it
    # loses every file, so it is never generated here: the operator (or the
    # local launcher) provides it.
    file_master_key: SecretStr
    # Where incidents answers who may see an incident (and so its files).
    incidents_addr: str = "127.0.0.1:50052"
    incidents_timeout_seconds: float = Field(default=5.0, gt=0)
    # Staged files no incident has taken are deleted after this long.
    staged_file_ttl_hours: float = Field(default=24.0, gt=0)
    # How often each replica looks for expired staged files and unclaimed objects.
    cleanup_interval_seconds: float = Field(default=300.0, gt=0)
    # An upload unfinished after this long is dead: what it left in S3 is removed.
    upload_abandoned_after_minutes: float = Field(default=60.0, gt=0)

    @field_validator("s3_endpoint")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        if "://" in value or "/" in value:
            raise ValueError("must be host:port, without a scheme or path")
        return value

    @field_validator("file_master_key")
    @classmethod
    def _thirty_two_bytes(cls, value: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be base64") from None
        if len(raw) != MASTER_KEY_BYTES:
            raise ValueError(f"must decode to {MASTER_KEY_BYTES} bytes")
        return value

    @property
    def master_key_bytes(self) -> bytes:
        return base64.b64decode(self.file_master_key.get_secret_value())
