"""Argon2id password hashes, computed off the event loop and with bounded memory.

The parameters are argon2-cffi's default, RFC 9106's "low memory" profile
(m=64 MiB, t=3, p=4), stronger than OWASP's minimum (m=19 MiB, t=2, p=1). A
stored hash made with other parameters is upgraded at the next successful
login (`needs_rehash`).
"""

from __future__ import annotations

import asyncio
import secrets

import argon2
from argon2 import profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PARAMETERS = profiles.RFC_9106_LOW_MEMORY
# Each hash takes 64 MiB while it runs; a burst of logins must not take the
# pod's memory with it, so a few run at once and the rest wait their turn.
MAX_CONCURRENT_HASHES = 4


class PasswordHasher:
    def __init__(self, parameters: argon2.Parameters = PARAMETERS) -> None:
        self._argon2 = argon2.PasswordHasher.from_parameters(parameters)
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
        # A hash of nobody's password: unknown emails are checked against it, so
        # they take as long as a known email with a wrong password.
        self._dummy_hash = self._argon2.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._argon2.hash, password)

    async def verify(self, stored_hash: str, password: str) -> bool:
        async with self._slots:
            return await asyncio.to_thread(self._verify, stored_hash, password)

    async def spend_comparable_time(self, password: str) -> None:
        """Do the work of a failed verification for an account that does not exist."""
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def _verify(self, stored_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
