"""Identity's configuration: the common service settings plus its own HAVEN_* variables."""

from __future__ import annotations

import base64
import binascii

from pydantic import Field, ValidationInfo, field_validator

from haven_runtime.config import ServiceSettings

TOTP_KEY_BYTES = 32


class IdentitySettings(ServiceSettings):
    grpc_port: int = 50051
    # Ed25519 private key (PEM, PKCS8) that signs the internal token; its public
    # half is HAVEN_TOKEN_PUBLIC_KEY, which every service (this one too) verifies with.
    token_signing_key: str
    # HMAC key for the hashes of session, CSRF and reset tokens and recovery
    # codes stored in the database: a stolen database alone does not let anyone
    # use a token.
    secret_key: str = Field(min_length=32)
    # AES-256-GCM key (base64 of 32 random bytes) for the soft keys' TOTP
    # secrets, which must be readable (unlike passwords) to check a code.
    totp_encryption_key: str
    public_url: str = "http://127.0.0.1:8080"

    # Sessions end after this long without a request, and in any case this
    # long after the login (NIST SP 800-63B AAL2: 30 minutes idle, 12 hours).
    session_idle_minutes: int = Field(default=30, gt=0)
    session_absolute_hours: int = Field(default=12, gt=0, le=24 * 31)
    # How long a TOTP step-up lasts; a trust may shorten or lengthen it
    # (trusts.elevation_minutes).
    elevation_minutes: int = Field(default=20, gt=0, le=24 * 60)

    reset_token_ttl_minutes: int = Field(default=60, gt=0)
    # Password-reset requests per hour, per email address (known or not, so the
    # limit reveals nothing) and per client address (a school shares one).
    reset_limit_per_email: int = Field(default=5, gt=0)
    reset_limit_per_address: int = Field(default=60, gt=0)

    # Login throttling, per account: this many consecutive failures are free;
    # after the n-th failure beyond, the next attempt waits 2^(n - free) seconds,
    # at most login_max_delay_seconds; at login_lock_after failures the account
    # is locked until an admin unlocks it.
    login_free_attempts: int = Field(default=5, gt=0)
    login_max_delay_seconds: int = Field(default=15 * 60, gt=0)
    login_lock_after: int = Field(default=100, gt=1)
    # Failed logins (and soft-key codes) per hour per client address.
    login_limit_per_address: int = Field(default=100, gt=0)

    # Retired: replaced by the two session settings above. Set, it stops the
    # process with a message naming its replacements rather than being ignored.
    session_ttl_seconds: int | None = None

    @field_validator("public_url")
    @classmethod
    def _without_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("totp_encryption_key")
    @classmethod
    def _thirty_two_bytes_of_base64(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be base64 (of 32 random bytes)") from None
        if len(raw) != TOTP_KEY_BYTES:
            raise ValueError(f"must be the base64 of exactly {TOTP_KEY_BYTES} bytes")
        return value.strip()

    @field_validator("session_ttl_seconds")
    @classmethod
    def _retired(cls, value: int | None) -> None:
        if value is not None:
            raise ValueError(
                "is no longer read; use HAVEN_SESSION_ABSOLUTE_HOURS (default 12) and "
                "HAVEN_SESSION_IDLE_MINUTES (default 30)"
            )
        return None

    @field_validator("login_lock_after")
    @classmethod
    def _after_the_free_attempts(cls, value: int, info: ValidationInfo) -> int:
        free = info.data.get("login_free_attempts")
        if free is not None and value <= free:
            raise ValueError("must be greater than HAVEN_LOGIN_FREE_ATTEMPTS")
        return value

    @property
    def totp_key_bytes(self) -> bytes:
        return base64.b64decode(self.totp_encryption_key)
