"""What the handlers need from the outside world, wired once by app.build_service."""

from __future__ import annotations

from dataclasses import dataclass

from haven_identity.adapters.password_hasher import PasswordHasher
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
