"""A ceiling on request bodies, so one client cannot make the gateway hold gigabytes.

FastAPI reads a JSON body whole before validating it. Requests that declare a
body above the limit are answered 413 before it is read; a body sent without a
length is counted as it arrives, and when it passes the limit the client gets
413 and the app is told the client went away. File uploads are streamed and
limited by their own rule, so they are exempt.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from haven_gateway.problems import Problem


def too_large(max_bytes: int) -> Problem:
    return Problem(
        413, "payload_too_large", f"The body may be at most {max_bytes // (1024 * 1024)} MB."
    )


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, exempt: Callable[[Scope], bool]):
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await too_large(self.max_bytes).response()(scope, receive, send)
            return

        received = 0
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    answered = True
                    await too_large(self.max_bytes).response()(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not answered:  # the 413 has been sent; whatever the app says now is moot
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not answered:
                raise
            # The app failed reading a body it was told was abandoned; the client has its 413.
