"""The soft key: RFC 6238 TOTP codes as authenticator apps make them, and recovery codes.

Codes are 6 digits for 30-second time-steps with HMAC-SHA-1, which is what
every authenticator app expects (and what `otpauth://` URIs default to). A code
from one step either side of now is accepted, for clocks that drift; that each
step is accepted only once per account is enforced where the last used step is
stored (adapters), with a compare-and-set.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time

import pyotp

ISSUER = "Haven"
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1

RECOVERY_CODE_COUNT = 10
# Crockford's base32 alphabet in lower case: no i, l, o or u, so nothing reads
# as another character; 10 characters carry 50 random bits.
RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECOVERY_CODE_LENGTH = 10
# What people type for the letters the alphabet leaves out.
_RECOVERY_LOOKALIKES = str.maketrans({"i": "1", "l": "1", "o": "0"})
_SEPARATORS = re.compile(r"[\s\-]+")


def new_secret() -> str:
    """160 random bits in base32, the length RFC 4226 recommends for SHA-1."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=email, issuer_name=ISSUER
    )


def time_step(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def normalise_code(raw: str) -> str:
    """Codes are often typed or pasted with spaces ("123 456")."""
    return _SEPARATORS.sub("", raw)


def looks_like_totp_code(code: str) -> bool:
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def matching_steps(secret: str, code: str, at: float | None = None) -> list[int]:
    """The time-steps near `at` whose code is `code`, latest first (usually none or one)."""
    if not looks_like_totp_code(code):
        return []
    now = time_step(at)
    steps = range(now + DRIFT_STEPS, now - DRIFT_STEPS - 1, -1)
    return [s for s in steps if hmac.compare_digest(code_at(secret, s), code)]


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Single-use codes for when the phone is lost, shown once as "xxxxx-xxxxx"."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalise_recovery_code(raw: str) -> str | None:
    """The stored form of a typed recovery code, or None if it cannot be one."""
    code = _SEPARATORS.sub("", raw).lower().translate(_RECOVERY_LOOKALIKES)
    if len(code) != RECOVERY_CODE_LENGTH or any(c not in RECOVERY_ALPHABET for c in code):
        return None
    return code
