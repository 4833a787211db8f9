"""A service built on the shared runtime with one slow call, run as its own process.

The SIGTERM test starts it, calls `Sleep`, and stops it mid-call.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc

from haven_runtime.config import ServiceSettings, load_settings
from haven_runtime.server import Service

MIGRATIONS = Path(__file__).parent / "migrations"


async def sleep(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await asyncio.sleep(float(request.decode()))
    return b"finished"


def register(server: grpc.aio.Server) -> list[str]:
    handler = grpc.method_handlers_generic_handler(
        "haven.test.Slow", {"Sleep": grpc.unary_unary_rpc_method_handler(sleep)}
    )
    server.add_generic_rpc_handlers((handler,))
    return ["haven.test.Slow"]


def main() -> None:
    settings = load_settings(ServiceSettings)
    service = Service("slow", settings, MIGRATIONS)
    asyncio.run(service.run(register))
    sys.exit(0)


if __name__ == "__main__":
    main()
