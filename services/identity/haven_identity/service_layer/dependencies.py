"""What the handlers need from the outside world, wired once by app.build_service."""

from __future__ import annotations

from dataclasses import dataclass

from haven_identity.adapters.password_hasher import PasswordHasher
from haven_identity.adapters.secret_box import SecretBox
from haven_identity.domain.throttling import LoginThrottle
from haven_identity.settings import IdentitySettings
from haven_runtime.auth import TokenSigner
from haven_runtime.db import Database

PRODUCER = "identity"


@dataclass(frozen=True)
class Dependencies:
    db: Database
    settings: IdentitySettings
    signer: TokenSigner
    hasher: PasswordHasher
    totp_box: SecretBox
    throttle: LoginThrottle

    @classmethod
    def wire(
        cls, db: Database, settings: IdentitySettings, signer: TokenSigner, hasher: PasswordHasher
    ) -> Dependencies:
        return cls(
            db=db,
            settings=settings,
            signer=signer,
            hasher=hasher,
            totp_box=SecretBox(settings.totp_key_bytes),
            throttle=LoginThrottle(
                free_attempts=settings.login_free_attempts,
                max_delay_seconds=settings.login_max_delay_seconds,
                lock_after=settings.login_lock_after,
            ),
        )
