"""`python -m haven_gateway` serves over real HTTP, logs JSON, and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import httpx

from haven_devstack.ports import free_port


async def test_the_gateway_process_serves_logs_json_and_stops_on_sigterm(doubles):
    port = free_port()
    env = os.environ | {
        "HAVEN_HTTP_HOST": "127.0.0.1",
        "HAVEN_HTTP_PORT": str(port),
        "HAVEN_IDENTITY_ADDR": doubles.address,
        "HAVEN_INCIDENTS_ADDR": doubles.address,
        "HAVEN_NOTIFICATIONS_ADDR": doubles.address,
        "HAVEN_FILES_ADDR": doubles.address,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "haven_gateway",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(200):
                try:
                    health = await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            assert health.json() == {"status": "ok"}
            assert (await client.get("/readyz")).status_code == 200
            me = await client.get(
                "/api/v1/me",
                headers={"Authorization": "Bearer session-alice", "X-Request-ID": "proc-1"},
            )
            assert me.json()["id"] == "u-alice"
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stdout = (await process.stdout.read()).decode()
    # uvicorn drains, runs the app's shutdown, then re-raises SIGTERM so the
    # parent sees why the process ended.
    assert code in (0, -signal.SIGTERM), (await process.stderr.read()).decode()
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    assert "Application shutdown complete." in messages
    assert lines and all(line["service"] == "gateway" for line in lines)
    [request] = [line for line in lines if line.get("path") == "/api/v1/me"]
    assert (request["request_id"], request["user_id"], request["status"]) == (
        "proc-1",
        "u-alice",
        200,
    )
    assert "session-alice" not in stdout
