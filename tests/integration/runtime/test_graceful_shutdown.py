"""A service stopped with SIGTERM leaves the load balancer and finishes what it started."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from haven_devstack.ports import free_port
from haven_runtime.migrations import upgrade_async

HERE = Path(__file__).parent


async def wait_serving(address: str, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("service never became ready")
            await asyncio.sleep(0.1)


async def test_a_service_stopped_with_sigterm_mid_request_finishes_the_request(
    create_database,
    nats_url: str,
    token_public_key: str,  # type: ignore[no-untyped-def]
):
    url = await create_database("slow")
    await upgrade_async(HERE / "migrations", url)
    port = free_port()
    env = {
        **os.environ,
        "HAVEN_DATABASE_URL": url,
        "HAVEN_NATS_URL": nats_url,
        "HAVEN_GRPC_HOST": "127.0.0.1",
        "HAVEN_GRPC_PORT": str(port),
        "HAVEN_TOKEN_PUBLIC_KEY": token_public_key,
        "HAVEN_SHUTDOWN_GRACE_SECONDS": "10",
    }
    process = subprocess.Popen(
        [sys.executable, str(HERE / "slow_service.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        address = f"127.0.0.1:{port}"
        await wait_serving(address)
        async with grpc.aio.insecure_channel(address) as channel:
            sleep = channel.unary_unary("/haven.test.Slow/Sleep")
            call = sleep(b"2.0", timeout=15)
            await asyncio.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            # Readiness drops at once, so Kubernetes stops sending new traffic.
            health = health_pb2_grpc.HealthStub(channel)
            try:
                status = (await health.Check(health_pb2.HealthCheckRequest(), timeout=1)).status
            except grpc.aio.AioRpcError:
                status = health_pb2.HealthCheckResponse.NOT_SERVING
            assert status == health_pb2.HealthCheckResponse.NOT_SERVING
            assert await call == b"finished"
        assert await asyncio.to_thread(process.wait, 20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read().decode() if process.stdout else ""
    assert '"message": "shutting down"' in output or '"message":"shutting down"' in output


async def test_a_service_whose_bus_never_answered_still_stops_on_sigterm(
    create_database,
    token_public_key: str,  # type: ignore[no-untyped-def]
):
    url = await create_database("slow")
    await upgrade_async(HERE / "migrations", url)
    port = free_port()
    env = {
        **os.environ,
        "HAVEN_DATABASE_URL": url,
        "HAVEN_NATS_URL": f"nats://127.0.0.1:{free_port()}",  # nothing listens there
        "HAVEN_GRPC_HOST": "127.0.0.1",
        "HAVEN_GRPC_PORT": str(port),
        "HAVEN_TOKEN_PUBLIC_KEY": token_public_key,
        "HAVEN_SHUTDOWN_GRACE_SECONDS": "3",
    }
    process = subprocess.Popen(
        [sys.executable, str(HERE / "slow_service.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_serving(f"127.0.0.1:{port}")  # it serves although the bus is away
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
