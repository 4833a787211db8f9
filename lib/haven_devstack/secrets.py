"""Development secrets: generated on first start, kept under var/ (mode 0600), never in git.

Production reads the same values from the environment (a Kubernetes Secret).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from haven_runtime.auth import (
    generate_signing_key,
    load_private_key,
    private_key_pem,
    public_key_pem,
)


@dataclass(frozen=True)
class DevSecrets:
    token_signing_key: str
    secret_key: str
    file_master_key: str
    totp_encryption_key: str = ""

    @property
    def token_public_key(self) -> str:
        return public_key_pem(load_private_key(self.token_signing_key))


def _random_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def load_or_create(path: Path) -> DevSecrets:
    """Read var/secrets.json, creating it, or adding a secret a newer Haven needs."""
    if path.exists():
        stored = DevSecrets(**json.loads(path.read_text()))
        if stored.totp_encryption_key:
            return stored
        completed = replace(stored, totp_encryption_key=_random_key())
    else:
        completed = DevSecrets(
            token_signing_key=private_key_pem(generate_signing_key()),
            secret_key=secrets.token_urlsafe(32),
            file_master_key=_random_key(),
            totp_encryption_key=_random_key(),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(asdict(completed), handle)
    partial.replace(path)
    return completed
