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

When a session's answer runs out, the requests that arrive while identity is
being asked wait for that one answer rather than each asking again (a page's
five calls, or a busy client's sixty-four connections, make one call). An
answer asked for before the memory was emptied is not remembered, and nobody
waits for it afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable

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
        # Questions to identity under way, by key, and how many times the memory
        # has been emptied (an answer from before an emptying is not kept).
        self._asking: dict[bytes, asyncio.Future[identity_pb2.AuthenticateResponse]] = {}
        self._generation = 0

    async def remembered_or_asked(
        self,
        session_token: str,
        ask: Callable[[], Awaitable[identity_pb2.AuthenticateResponse]],
    ) -> identity_pb2.AuthenticateResponse:
        """The remembered answer, or identity's (one question per session at a time)."""
        if self._entries is None:
            return await ask()
        key = self._key(session_token)
        answer = self._entries.get(key)
        if answer is not None:
            return answer
        pending = self._asking.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._ask_and_keep(key, ask, self._generation))
            self._asking[key] = pending
        # Shielded: one waiter giving up (its client left) does not cancel the others'.
        return await asyncio.shield(pending)

    async def _ask_and_keep(
        self,
        key: bytes,
        ask: Callable[[], Awaitable[identity_pb2.AuthenticateResponse]],
        generation: int,
    ) -> identity_pb2.AuthenticateResponse:
        try:
            return self._keep(key, await ask(), generation)
        finally:
            if generation == self._generation:
                self._asking.pop(key, None)

    @staticmethod
    def _key(session_token: str) -> bytes:
        return hashlib.sha256(session_token.encode()).digest()

    async def asked_afresh(
        self,
        session_token: str,
        ask: Callable[[], Awaitable[identity_pb2.AuthenticateResponse]],
    ) -> identity_pb2.AuthenticateResponse:
        """Identity's answer, always asked (it checks a CSRF token), and remembered for the
        session's other requests unless the memory was emptied while identity was asked."""
        generation = self._generation
        return self._keep(self._key(session_token), await ask(), generation)

    def _keep(
        self, key: bytes, answer: identity_pb2.AuthenticateResponse, asked_in: int
    ) -> identity_pb2.AuthenticateResponse:
        """Remember `answer` unless the memory was emptied since it was asked for."""
        if asked_in == self._generation and self._entries is not None:
            self._entries[key] = answer
        return answer

    def clear(self) -> None:
        self._generation += 1
        self._asking.clear()
        if self._entries is not None:
            self._entries.clear()


def changes_accounts(method: str, path: str) -> bool:
    return (
        method.upper() in UNSAFE
        and path.startswith(CHANGING_PREFIXES)
        and path.rstrip("/") not in NOT_CHANGING
    )
