"""Development secrets: generated on first start, kept under var/ (mode 0600), never in git.

Production reads the same values from the environment (a Kubernetes Secret).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import asdict, dataclass
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

    @property
    def token_public_key(self) -> str:
        return public_key_pem(load_private_key(self.token_signing_key))


def load_or_create(path: Path) -> DevSecrets:
    if path.exists():
        return DevSecrets(**json.loads(path.read_text()))
    created = DevSecrets(
        token_signing_key=private_key_pem(generate_signing_key()),
        secret_key=secrets.token_urlsafe(32),
        file_master_key=base64.b64encode(secrets.token_bytes(32)).decode(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(asdict(created), handle)
    return created
