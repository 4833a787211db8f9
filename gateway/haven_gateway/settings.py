"""The gateway's HAVEN_* variables."""

from __future__ import annotations

from pydantic import Field, model_validator

from haven_runtime.config import HavenSettings


class GatewaySettings(HavenSettings):
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    public_url: str = "http://127.0.0.1:8080"

    identity_addr: str = "127.0.0.1:50051"
    incidents_addr: str = "127.0.0.1:50052"
    notifications_addr: str = "127.0.0.1:50053"
    files_addr: str = "127.0.0.1:50054"

    # None means "decide from HAVEN_ENV": browsers drop Secure cookies on plain
    # http://127.0.0.1, so local development needs them off, production on.
    cookie_secure: bool | None = None

    rpc_deadline_seconds: float = Field(5.0, gt=0)
    # An upload or download streams for as long as the client takes to send or read it.
    transfer_deadline_seconds: float = Field(300.0, gt=0)
    readiness_deadline_seconds: float = Field(1.0, gt=0)
    # Files enforces the real limit on the bytes it receives; the gateway uses
    # this one to refuse an oversized upload before reading it.
    max_upload_bytes: int = Field(20 * 1024 * 1024, gt=0)
    # Body size limit for JSON and CSV requests (imports are the largest).
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0)
    # Proxies whose X-Forwarded-For uvicorn believes (the client address feeds rate limits).
    forwarded_allow_ips: str = "127.0.0.1"
    shutdown_grace_seconds: float = Field(20.0, ge=0)
    # How long identity's answer for a session is reused (auth_cache.py); 0: ask every time.
    auth_cache_seconds: float = Field(2.0, ge=0, le=60)
    auth_cache_entries: int = Field(10_000, ge=1)
    # Requests one gateway process may have waiting on the services; the next
    # that would call one is answered 503 `overloaded` at once (admission.py). 0: no limit.
    max_requests_in_flight: int = Field(128, ge=0)

    @model_validator(mode="after")
    def _default_cookie_secure(self) -> GatewaySettings:
        if self.cookie_secure is None:
            # The model is frozen; this is its own construction, so set it directly.
            object.__setattr__(self, "cookie_secure", self.env != "development")
        return self

    @property
    def secure_cookies(self) -> bool:
        return bool(self.cookie_secure)
