"""TOTP secrets at rest: AES-256-GCM under HAVEN_TOTP_ENCRYPTION_KEY, bound to their account.

Unlike a password, a TOTP secret must be readable to check a code, so it is
encrypted rather than hashed. The account's id is the associated data: a
ciphertext copied onto another account's row fails to decrypt instead of giving
that account someone else's soft key. A leading version byte leaves room for a
key rotation.
"""

from __future__ import annotations

import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x01"
NONCE_BYTES = 12
_LABEL = b"haven-totp-secret:"


class UnreadableSecret(Exception):
    """The stored secret does not decrypt with this key for this account."""


class SecretBox:
    def __init__(self, key: bytes):
        self._aead = AESGCM(key)

    def seal(self, user_id: uuid.UUID, secret: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, secret.encode(), _aad(user_id))

    def open(self, user_id: uuid.UUID, sealed: bytes) -> str:
        if not sealed.startswith(VERSION) or len(sealed) <= 1 + NONCE_BYTES:
            raise UnreadableSecret("unknown format")
        nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, _aad(user_id)).decode()
        except InvalidTag:
            raise UnreadableSecret("wrong key or account") from None


def _aad(user_id: uuid.UUID) -> bytes:
    return _LABEL + user_id.bytes
