"""The caller's identity between services: a short-lived Ed25519-signed token.

Identity signs it after checking a session; every other service verifies the
signature, audience, issuer and expiry itself, and never trusts a bare user id.
The token carries the caller's effective role in each school (trust roles are
already expanded into the schools of the trust), read afresh by identity on
each request, so a role change takes effect on the next request.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import jwt
from cachetools import TLRUCache
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

ISSUER = "haven-identity"
AUDIENCE = "haven-services"
ALGORITHM = "EdDSA"
DEFAULT_LIFETIME_SECONDS = 120
LEEWAY_SECONDS = 5

STAFF, DSL, ADMIN = "staff", "dsl", "admin"
SCHOOL_ROLES = (STAFF, DSL, ADMIN)


class InvalidToken(Exception):
    """The internal token is missing, forged, expired or meant for someone else."""


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what they may do in each school."""

    user_id: str
    session_id: str
    name: str
    email: str
    # school_id -> role ("staff", "dsl" or "admin")
    schools: Mapping[str, str] = field(default_factory=dict)
    trust_roles: tuple[tuple[str, str], ...] = ()
    elevated_until: datetime | None = None

    def role_in(self, school_id: str) -> str | None:
        return self.schools.get(school_id)

    def belongs_to(self, school_id: str) -> bool:
        return school_id in self.schools

    def is_dsl_of(self, school_id: str) -> bool:
        return self.schools.get(school_id) == DSL

    def is_admin_of(self, school_id: str) -> bool:
        return self.schools.get(school_id) == ADMIN

    def is_trust_admin_of(self, trust_id: str) -> bool:
        return (trust_id, "trust_admin") in self.trust_roles

    @property
    def is_elevated(self) -> bool:
        return self.elevated_until is not None and self.elevated_until > datetime.now(UTC)


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def load_private_key(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the token signing key must be an Ed25519 private key")
    return key


def load_public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the token public key must be an Ed25519 public key")
    return key


class TokenSigner:
    def __init__(self, private_key: Ed25519PrivateKey, lifetime: int = DEFAULT_LIFETIME_SECONDS):
        self._key = private_key
        self._lifetime = lifetime

    def sign(self, principal: Principal) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": principal.user_id,
            "sid": principal.session_id,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + self._lifetime,
            "name": principal.name,
            "email": principal.email,
            "schools": dict(principal.schools),
            "trust_roles": [list(pair) for pair in principal.trust_roles],
            "elev": int(principal.elevated_until.timestamp()) if principal.elevated_until else None,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)


class TokenVerifier:
    """Checks internal tokens. A token that passed is remembered until it expires:
    the same string with the same signature cannot become invalid sooner (these
    tokens are not revocable; they are short-lived instead), and a request's
    token reaches several services and several calls, while an Ed25519 check
    and the claims' decoding cost about a tenth of a millisecond each time."""

    def __init__(self, public_key: Ed25519PublicKey, *, remember: int = 4096):
        self._key = public_key
        self._verified: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            maxsize=remember, ttu=lambda _token, entry, _now: entry[1], timer=time.time
        )
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal:
        with self._lock:
            known = self._verified.get(token)
        if known is not None:
            return known[0]
        principal, expires = self._check(token)
        with self._lock:
            self._verified[token] = (principal, expires)
        return principal

    def _check(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(str(error)) from None
        schools = claims.get("schools") or {}
        if not isinstance(schools, dict) or any(r not in SCHOOL_ROLES for r in schools.values()):
            raise InvalidToken("malformed schools claim")
        elev = claims.get("elev")
        principal = Principal(
            user_id=claims["sub"],
            session_id=claims.get("sid", ""),
            name=claims.get("name", ""),
            email=claims.get("email", ""),
            schools=schools,
            trust_roles=tuple((t, r) for t, r in claims.get("trust_roles") or []),
            elevated_until=datetime.fromtimestamp(elev, UTC) if elev else None,
        )
        return principal, float(claims["exp"]) + LEEWAY_SECONDS
