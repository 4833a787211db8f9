"""How many requests one gateway process has waiting on the services, and its limit.

A request takes a place when it first calls a service (peers.py: every unary
call, and a download, asks `admit` first) and gives it back when its answer
starts or it ends, whichever comes first (request_context.py). When every
place is taken, the call is not made: the client gets 503 `overloaded` with
Retry-After at once, and since nothing was asked of any service yet, the
request can be sent again as it was. An upload is refused the same way when
the services are full, but gives up its place while its body arrives
(`for_transfer`): the client sets that pace, not the services.

Why at the first call and not when the request arrives: what runs out under
load is the services' time (requests waiting = rate x time each takes; past
HAVEN_MAX_REQUESTS_IN_FLIGHT the wait would outlast the gRPC deadline
anyway). A request still arriving (a client trickling its body, which FastAPI
reads before anything else, or an upload's), one whose answer is on its way
(a client slow to read a download), and one answered by the gateway alone (a
remembered session's `/me`, the web pages, the probes) hold no place, so slow
or idle connections cannot lock everyone else out.
"""

from __future__ import annotations

from contextvars import ContextVar, Token

from prometheus_client import Counter

from haven_gateway.problems import Problem

RETRY_AFTER_SECONDS = 1

OVERLOADED = "overloaded"

# Counted where the answer is made (app.py's problem handler): requests sharing
# one question to identity (auth_cache.py) are refused together.
SHED = Counter(
    "haven_http_requests_shed_total",
    "Requests answered 503 overloaded: every place for a request waiting on the services was taken",
)


class _Place:
    __slots__ = ("taken",)

    def __init__(self) -> None:
        self.taken = False


_place: ContextVar[_Place | None] = ContextVar("haven_request_place", default=None)


def overloaded() -> Problem:
    return Problem(
        503,
        OVERLOADED,
        "Haven has more requests than it can answer just now; try again in a moment.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


class Admission:
    """`limit` places (0: no limit) for requests waiting on the services."""

    def __init__(self, limit: int):
        self.limit = limit
        self.holding = 0

    def begin(self) -> tuple[_Place, Token[_Place | None]]:
        """A request starts, holding no place yet."""
        place = _Place()
        return place, _place.set(place)

    def release(self, place: _Place) -> None:
        """The request's place, if it holds one, is free again (it may be called twice)."""
        if place.taken:
            place.taken = False
            self.holding -= 1

    def end(self, place: _Place, token: Token[_Place | None]) -> None:
        """The request has ended."""
        self.release(place)
        _place.reset(token)

    def admit(self) -> None:
        """Before a call to a service: take this request's place, or raise 503 overloaded.

        A request takes one place however many calls it makes, and is never refused
        once it has one (its earlier calls may have changed something)."""
        place = _place.get()
        if place is None or place.taken or self.limit == 0:
            return
        if self.holding >= self.limit:
            raise overloaded()
        self.holding += 1
        place.taken = True

    def for_transfer(self) -> None:
        """Before a transfer whose pace the client sets (an upload's body): refused as a
        first call would be while the services are full, and holding no place while it
        runs."""
        place = _place.get()
        if place is None or self.limit == 0:
            return
        if place.taken:
            self.release(place)
        elif self.holding >= self.limit:
            raise overloaded()
