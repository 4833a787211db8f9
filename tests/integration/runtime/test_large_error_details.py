"""A refusal that names many fields reaches the caller whole, whatever its size."""

from __future__ import annotations

import grpc

from haven_runtime.auth import TokenVerifier, load_public_key
from haven_runtime.clients import channel
from haven_runtime.errors import FieldViolation, ValidationFailed, from_rpc_error
from haven_runtime.interceptors import ServiceInterceptor

FIELDS = 300  # some 20 KB of details, well over gRPC's default 8 KiB soft limit


async def refuse(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    raise ValidationFailed(
        [
            FieldViolation(f"category_ids[{n}]", "no such category in this school")
            for n in range(FIELDS)
        ]
    )


async def test_a_validation_failure_naming_hundreds_of_fields_arrives_as_such(token_public_key):  # type: ignore[no-untyped-def]
    server = grpc.aio.server(
        interceptors=[ServiceInterceptor(TokenVerifier(load_public_key(token_public_key)))]
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.Refuser",
                {"Refuse": grpc.unary_unary_rpc_method_handler(refuse)},
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with channel(f"127.0.0.1:{port}") as chan:
            call = chan.unary_unary("/test.Refuser/Refuse")
            for _ in range(20):  # the soft limit dropped answers at random
                try:
                    await call(b"")
                except grpc.aio.AioRpcError as error:
                    remote = from_rpc_error(error)
                    assert remote.code == grpc.StatusCode.INVALID_ARGUMENT
                    assert len(remote.violations) == FIELDS
                else:
                    raise AssertionError("the call should have been refused")
    finally:
        await server.stop(0)
