"""A few seconds' memory of identity's answer to "who holds this session?".

Without it every request costs a gRPC call to identity before any work, and
identity reads the account afresh each time; a page that makes five API calls
makes five. With it, the answer for a session token is reused for
HAVEN_AUTH_CACHE_SECONDS (2 by default, 0 turns it off), never longer than
that and never past the internal token's own 120-second life.

What it costs: a change to a session, an account or its roles reaches a
request within those seconds rather than at once. Changes made through this
gateway count at once all the same: every successful change under
/api/v1/auth/ and /api/v1/admin/ (logout, revoking a session, disabling an
account, roles, soft keys, imports) empties the memory before its answer
leaves. Only another gateway replica's change, or one made behind every
gateway's back (the command line, a session timing out), waits out the
seconds. Requests that carry a CSRF token always ask identity, which checks
the token against the session. The gateway's middleware (request_context.py)
does the emptying, before the response starts, so the caller's very next
request sees the change.

Keys are SHA-256 digests of the session token, so the memory holds no token a
heap dump could replay.
"""

from __future__ import annotations

import hashlib
import time

from cachetools import TTLCache

from haven.identity.v1 import identity_pb2

# Changes after which nobody's remembered answer is trusted any more.
CHANGING_PREFIXES = ("/api/v1/auth/", "/api/v1/admin/")
# ...except these, which change no existing session or account.
NOT_CHANGING = frozenset(
    {"/api/v1/auth/login", "/api/v1/auth/password-strength", "/api/v1/auth/password-reset"}
)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class AuthCache:
    def __init__(self, seconds: float, max_entries: int):
        self.seconds = seconds
        self._entries: TTLCache[bytes, identity_pb2.AuthenticateResponse] | None = (
            TTLCache(maxsize=max_entries, ttl=seconds, timer=time.monotonic)
            if seconds > 0
            else None
        )

    @staticmethod
    def _key(session_token: str) -> bytes:
        return hashlib.sha256(session_token.encode()).digest()

    def get(self, session_token: str) -> identity_pb2.AuthenticateResponse | None:
        if self._entries is None:
            return None
        return self._entries.get(self._key(session_token))

    def put(self, session_token: str, answer: identity_pb2.AuthenticateResponse) -> None:
        if self._entries is not None:
            self._entries[self._key(session_token)] = answer

    def clear(self) -> None:
        if self._entries is not None:
            self._entries.clear()


def changes_accounts(method: str, path: str) -> bool:
    return (
        method.upper() in UNSAFE
        and path.startswith(CHANGING_PREFIXES)
        and path.rstrip("/") not in NOT_CHANGING
    )
