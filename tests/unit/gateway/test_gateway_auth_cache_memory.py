"""The auth cache never keeps an answer that identity gave before the memory was emptied:
a logout or a disabled account passing through the gateway while identity was being asked
must count from the very next request."""

from __future__ import annotations

import asyncio

from haven.identity.v1 import identity_pb2
from haven_gateway.auth_cache import AuthCache


def answer_for(user_id: str) -> identity_pb2.AuthenticateResponse:
    return identity_pb2.AuthenticateResponse(user=identity_pb2.User(id=user_id))


class Identity:
    """Answers when told to, and counts the questions."""

    def __init__(self) -> None:
        self.asked = 0
        self.release = asyncio.Event()

    async def ask(self) -> identity_pb2.AuthenticateResponse:
        self.asked += 1
        await self.release.wait()
        return answer_for("u-alice")


async def test_an_answer_to_a_csrf_checked_request_serves_the_sessions_next_requests() -> None:
    cache = AuthCache(seconds=60, max_entries=10)
    identity = Identity()
    identity.release.set()
    await cache.asked_afresh("session-alice", identity.ask)
    await cache.asked_afresh("session-alice", identity.ask)  # always asks
    assert identity.asked == 2
    assert (await cache.remembered_or_asked("session-alice", identity.ask)).user.id == "u-alice"
    assert identity.asked == 2


async def test_an_answer_asked_before_the_memory_was_emptied_is_not_kept() -> None:
    for asking in (AuthCache.asked_afresh, AuthCache.remembered_or_asked):
        cache = AuthCache(seconds=60, max_entries=10)
        identity = Identity()
        pending = asyncio.ensure_future(asking(cache, "session-alice", identity.ask))
        for _ in range(10):  # let the question reach identity
            await asyncio.sleep(0)
        assert identity.asked == 1
        cache.clear()  # e.g. the session was revoked through this gateway meanwhile
        identity.release.set()
        assert (await pending).user.id == "u-alice"  # the request that asked still gets it
        await cache.remembered_or_asked("session-alice", identity.ask)
        assert identity.asked == 2, asking.__name__  # the next request asked again
