"""A ceiling on request bodies, so one client cannot make the gateway hold gigabytes.

FastAPI reads a JSON body whole before validating it. Requests that declare a
body above the limit are answered 413 before it is read; a body sent without a
length is counted as it arrives, and when it passes the limit the client gets
413 and the app is told the client went away. File uploads are streamed and
limited by their own rule, so they are exempt. The gateway's one middleware
(request_context.py) runs the app through `with_body_limit`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from haven_gateway.problems import Problem


def too_large(max_bytes: int) -> Problem:
    return Problem(
        413, "payload_too_large", f"The body may be at most {max_bytes // (1024 * 1024)} MB."
    )


async def with_body_limit(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send, max_bytes: int
) -> None:
    """Run `app` for one request whose body may be at most `max_bytes`."""
    declared = dict(scope.get("headers", [])).get(b"content-length", b"")
    if declared.isdigit() and int(declared) > max_bytes:
        await too_large(max_bytes).response()(scope, receive, send)
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
            if received > max_bytes:
                answered = True
                await too_large(max_bytes).response()(scope, receive, send)
                return {"type": "http.disconnect"}
        return message

    async def guarded_send(message: Message) -> None:
        if not answered:  # the 413 has been sent; whatever the app says now is moot
            await send(message)

    try:
        await app(scope, counting_receive, guarded_send)
    except Exception:
        if not answered:
            raise
        # The app failed reading a body it was told was abandoned; the client has its 413.
