"""Limits on what callers send, checked before any work, and how typed emails are keyed.

Input no account could match (an address longer than mail allows, a password
longer than any we accept, a code longer than any we issue) is refused with
ValidationFailed naming the field; nothing is stored or counted for it.
"""

from __future__ import annotations

from haven_identity.domain.emails import lookup_email
from haven_identity.domain.passwords import MAX_LENGTH as MAX_PASSWORD_LENGTH
from haven_identity.domain.tokens import TokenPurpose, token_hash
from haven_identity.service_layer.errors import too_long

MAX_EMAIL_LENGTH = 254  # RFC 5321's limit on a path, so on any address that receives mail
MAX_CODE_LENGTH = 64  # TOTP codes are 6 digits, recovery codes 11 characters


def check_email(email: str) -> None:
    if len(email.strip()) > MAX_EMAIL_LENGTH:
        raise too_long("email", MAX_EMAIL_LENGTH)


def check_password(password: str) -> None:
    if len(password) > MAX_PASSWORD_LENGTH:
        raise too_long("password", MAX_PASSWORD_LENGTH)


def check_code(code: str) -> None:
    if len(code) > MAX_CODE_LENGTH:
        raise too_long("code", MAX_CODE_LENGTH)


def email_key(secret_key: str, email: str) -> str:
    """How an address anyone typed is named in limits and throttles: a keyed hash, not the text."""
    canonical = lookup_email(email) or " ".join(email.split()).lower()
    return token_hash(secret_key, TokenPurpose.EMAIL_KEY, canonical)
