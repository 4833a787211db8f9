"""Identity's configuration: the common service settings plus its own HAVEN_* variables."""

from __future__ import annotations

from pydantic import Field, field_validator

from haven_runtime.config import ServiceSettings


class IdentitySettings(ServiceSettings):
    grpc_port: int = 50051
    # Ed25519 private key (PEM, PKCS8) that signs the internal token; its public
    # half is HAVEN_TOKEN_PUBLIC_KEY, which every service (this one too) verifies with.
    token_signing_key: str
    # HMAC key for the hashes of session, CSRF and reset tokens stored in the
    # database: a stolen database alone does not let anyone use a token.
    secret_key: str = Field(min_length=32)
    public_url: str = "http://127.0.0.1:8080"
    session_ttl_seconds: int = Field(default=8 * 3600, gt=0)
    reset_token_ttl_minutes: int = Field(default=60, gt=0)

    @field_validator("public_url")
    @classmethod
    def _without_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")
