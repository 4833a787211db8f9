"""The server interceptor every service runs: request id, caller identity, logs, errors.

One interceptor rather than three, because each concern needs to wrap the same
handler call: the request id and principal must be set in the handler's own
context, its outcome logged, and a ServiceError turned into a status.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog

from haven_runtime import context as ctx
from haven_runtime import tracing
from haven_runtime.auth import InvalidToken, TokenVerifier
from haven_runtime.errors import ServiceError, Unauthenticated, to_status
from haven_runtime.logging import get_logger
from haven_runtime.metrics import observe_rpc

log = get_logger("haven.rpc")

# Calls that are never logged per request (probes would drown the log).
QUIET_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, verifier: TokenVerifier):
        self.verifier = verifier

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(QUIET_PREFIXES):
            return handler
        metadata = {k: v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}
        method = details.method

        def enter() -> None:
            # Each call runs in its own task with its own copy of the context,
            # so what is set here needs no reset afterwards.
            rid = metadata.get("x-request-id") or str(uuid.uuid4())
            ctx.request_id.set(rid)
            if metadata.get("x-client-address"):
                ctx.client_address.set(metadata["x-client-address"])
            structlog.contextvars.bind_contextvars(request_id=rid)
            auth = metadata.get("authorization", "")
            if auth.lower().startswith("bearer "):
                raw = auth[7:].strip()
                principal = self.verifier.verify(raw)  # InvalidToken handled by fail()
                ctx._principal.set(principal)
                ctx._internal_token.set(raw)
                structlog.contextvars.bind_contextvars(user_id=principal.user_id)

        async def fail(context: grpc.aio.ServicerContext, error: Exception, started: float) -> None:
            if isinstance(error, InvalidToken):
                error = Unauthenticated("invalid internal token")
            if isinstance(error, ServiceError):
                log.info(
                    "rpc",
                    method=method,
                    status=error.code.name,
                    reason=error.reason,
                    ms=_ms(started),
                )
                observe_rpc(method, error.code.name, started)
                await context.abort_with_status(to_status(error))
            log.exception("rpc failed", method=method, ms=_ms(started))
            observe_rpc(method, "INTERNAL", started)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")

        def done(started: float) -> None:
            log.info("rpc", method=method, status="OK", ms=_ms(started))
            observe_rpc(method, "OK", started)

        def aborted(context: grpc.aio.ServicerContext, started: float) -> None:
            # The handler ended the call itself with context.abort(code, ...).
            code = context.code()
            observe_rpc(method, getattr(code, "name", None) or "UNKNOWN", started)

        def one_answer(inner: Callable[[Any, Any], Awaitable[Any]]) -> Any:
            """Wrap a handler that returns one response (unary or client-streaming)."""

            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                started = time.perf_counter()
                with structlog.contextvars.bound_contextvars(), tracing.span(method, metadata):
                    try:
                        enter()
                        response = await inner(request, context)
                    except Exception as error:
                        if isinstance(error, grpc.aio.AbortError):
                            aborted(context, started)
                            raise
                        await fail(context, error, started)
                        raise
                    done(started)
                    return response

            return wrapped

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                one_answer(handler.unary_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                one_answer(handler.stream_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            inner_us = handler.unary_stream

            async def unary_stream(
                request: Any, context: grpc.aio.ServicerContext
            ) -> AsyncIterator[Any]:
                started = time.perf_counter()
                with structlog.contextvars.bound_contextvars(), tracing.span(method, metadata):
                    try:
                        enter()
                        async for item in inner_us(request, context):
                            yield item
                    except Exception as error:
                        if isinstance(error, grpc.aio.AbortError):
                            aborted(context, started)
                            raise
                        await fail(context, error, started)
                        raise
                    done(started)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, handler.request_deserializer, handler.response_serializer
            )
        return handler


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
