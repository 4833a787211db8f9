"""Secret tokens handed to clients, and the keyed hashes under which we store them.

Only an HMAC of each token is stored, keyed with HAVEN_SECRET_KEY: someone who
reads the database (a backup, a replica) cannot use a session or reset link
without the key as well. The purpose is part of the hashed message, so a token
issued as one kind (a CSRF token, say) never matches a stored hash of another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import StrEnum

TOKEN_BYTES = 32


class TokenPurpose(StrEnum):
    SESSION = "session"
    CSRF = "csrf"
    PASSWORD_RESET = "password-reset"  # noqa: S105 - a label, not a secret
    RECOVERY_CODE = "recovery-code"
    # Not secrets, but not to be stored in clear either: the email addresses
    # people type (any address, known or not) in rate-limit and throttle keys.
    EMAIL_KEY = "email-key"


def new_token() -> str:
    """256 random bits, URL-safe (it travels in reset links and cookies)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(key: str, purpose: TokenPurpose, token: str) -> str:
    message = f"{purpose.value}:{token}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def token_matches(key: str, purpose: TokenPurpose, token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(key, purpose, token), stored_hash)
