"""The notifications service's configuration: its HAVEN_* variables on top of the common ones."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Literal

from pydantic import Field, FilePath, SecretStr, field_validator, model_validator

from haven_runtime.config import ServiceSettings


class NotificationsSettings(ServiceSettings):
    grpc_port: int = 50053
    # Where staff log in; the alert email links here.
    public_url: str = "http://127.0.0.1:8080"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(1025, ge=1, le=65535)
    # none: plain SMTP (a local sink); starttls: upgrade on the submission port
    # (587, e.g. Office 365); tls: implicit TLS from the first byte (465).
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Haven <no-reply@haven.invalid>"
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    # Certificates to trust besides the system's (PEM), for a relay whose
    # certificate a school's own authority signed. The relay's certificate is
    # always verified, name included.
    smtp_ca_file: FilePath | None = None

    # After this many tries an email is abandoned (and the attempts stay on record).
    email_max_attempts: int = Field(10, ge=1)
    # Retry n waits a random time up to min(cap, base * 2^n), never less than base.
    email_retry_base_seconds: float = Field(30.0, gt=0)
    email_retry_cap_seconds: float = Field(3600.0, gt=0)

    @field_validator("public_url")
    @classmethod
    def _public_url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("smtp_from")
    @classmethod
    def _from_has_an_address(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address or not address.rpartition("@")[2] or "\n" in value or "\r" in value:
            raise ValueError('must be an address such as "Haven <no-reply@school.example>"')
        return value

    @model_validator(mode="after")
    def _user_and_password_together(self) -> NotificationsSettings:
        has_password = bool(self.smtp_password and self.smtp_password.get_secret_value())
        if bool(self.smtp_user) != has_password:
            raise ValueError("HAVEN_SMTP_USER and HAVEN_SMTP_PASSWORD must be set together")
        return self

    @property
    def from_address(self) -> str:
        """The bare address of HAVEN_SMTP_FROM (the SMTP envelope sender)."""
        return parseaddr(self.smtp_from)[1]

    @property
    def from_domain(self) -> str:
        """The domain Message-IDs are minted under: the sender's own."""
        return self.from_address.rpartition("@")[2]
