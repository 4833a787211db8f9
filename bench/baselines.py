"""The bare baselines Haven's figures are compared with, measured on this machine now.

    .venv/bin/python bench/baselines.py [--seconds 8]

Needs wrk (`apt-get install -y wrk`) and a PostgreSQL server: HAVEN_POSTGRES_URL,
else postgresql://postgres@127.0.0.1:5432. In one run, printed beside the
figures issue 8 quotes for this machine:

- HTTP: a bare uvicorn JSON hello-world (a raw ASGI app, no framework; httptools
  and uvloop, which uvicorn picks when installed, as the gateway's does), one
  worker process as the gateway runs, under wrk (WRK_THREADS threads,
  WRK_CONNECTIONS connections, keep-alive).
- gRPC: one grpc.aio unary hop of a few bytes to a trivial servicer in another
  process; the client here makes one call at a time (and, for scale, 32 in flight).
- PostgreSQL: single-row INSERT, each its own transaction (autocommit, prepared),
  on one connection and on eight at once, in a scratch database dropped after.
- NATS JetStream (a LocalNats on a free port, file storage as Haven's stream):
  acknowledged publishes one at a time, then pull-consume-and-ack of the same
  messages (fetch batches of 64, each message acked, as EventConsumer does).

The other benchmarks import these functions to measure the same baselines in
their own runs (bench/gateway_overhead.py, bench/event_path.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import machine  # noqa: E402

# What issue 8 quotes for this machine (measured earlier, by another hand).
ISSUE = {
    "hello": 41_000.0,
    "grpc": 4_700.0,
    "pg1": 6_900.0,
    "pg8": 16_700.0,
    "publish": 5_200.0,
    "consume": 14_800.0,
}
WRK_THREADS = 2
WRK_CONNECTIONS = 64
PAYLOAD = b"x" * 200  # about the size of one of Haven's event envelopes
HELLO_BODY = {"message": "Hello, world!"}


def postgres_server_url() -> str:
    return os.environ.get("HAVEN_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")


# -- the servers, run in their own processes ----------------------------------------


def serve_hello(port: int) -> None:
    """A raw ASGI JSON hello-world under uvicorn, configured as the gateway's uvicorn."""
    import json

    import uvicorn

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = json.dumps(HELLO_BODY).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
    )
    uvicorn.Server(config).run()


def serve_fastapi(port: int) -> None:
    """The same hello-world as a FastAPI route, no middleware: what the framework costs."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/")
    async def hello() -> dict[str, str]:
        return HELLO_BODY

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        lifespan="on",
    )
    uvicorn.Server(config).run()


def serve_grpc(port: int) -> None:
    """A grpc.aio server whose one method answers its request bytes."""
    import grpc

    async def ping(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    async def run() -> None:
        server = grpc.aio.server()
        handler = grpc.method_handlers_generic_handler(
            "bench.Echo", {"Ping": grpc.unary_unary_rpc_method_handler(ping)}
        )
        server.add_generic_rpc_handlers((handler,))
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    asyncio.run(run())


@contextmanager
def child_server(kind: str) -> Iterator[int]:
    """Run `serve_<kind>` in a child process on a free port; yields the port."""
    from haven_devstack.ports import free_port, wait_for_port

    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - this very script
        [sys.executable, __file__, "--serve", kind, "--port", str(port)],
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=30)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- HTTP under wrk ---------------------------------------------------------------


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    non_2xx: int
    errors: str
    latency: str  # wrk's own "Latency" line: avg, stdev, max

    def __str__(self) -> str:
        extra = f", {self.non_2xx} not 2xx" if self.non_2xx else ""
        extra += f", socket errors: {self.errors}" if self.errors else ""
        return f"{self.requests_per_second:9,.0f} req/s  ({self.requests:,} requests{extra})"


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is not installed: apt-get update && apt-get install -y wrk")
    return found


def run_wrk(url: str, seconds: float, headers: dict[str, str] | None = None) -> WrkResult:
    argv = [
        wrk_binary(),
        f"-t{WRK_THREADS}",
        f"-c{WRK_CONNECTIONS}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(argv + [url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:\s+(.*)", out)
    latency = re.search(r"Latency\s+(.*)", out)
    if rate is None or total is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=errors.group(1).strip() if errors else "",
        latency=" ".join(latency.group(1).split()) if latency else "",
    )


def wrk_settings() -> str:
    return f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} (keep-alive)"


def hello_world(seconds: float, kind: str = "hello") -> WrkResult:
    """The raw ASGI hello-world (kind "hello") or the FastAPI one ("fastapi") under wrk."""
    with child_server(kind) as port:
        url = f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - our own server
            assert reply.status == 200
        run_wrk(url, 1)  # warm up
        return run_wrk(url, seconds)


def http_stack() -> str:
    import httptools
    import uvicorn

    try:
        import uvloop

        loop = f"uvloop {uvloop.__version__}"
    except ImportError:
        loop = "asyncio (uvloop not installed)"
    return f"uvicorn {uvicorn.__version__}, httptools {httptools.__version__}, {loop}, 1 worker"


# -- gRPC -------------------------------------------------------------------------


async def _grpc_calls(port: int, seconds: float, in_flight: int) -> float:
    import grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        ping = channel.unary_unary("/bench.Echo/Ping")
        for _ in range(200):  # warm up
            await ping(b"ping")
        done = 0
        deadline = time.perf_counter() + seconds

        async def caller() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                await ping(b"ping")
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(in_flight)))
        return done / (time.perf_counter() - started)


def grpc_unary(seconds: float) -> tuple[float, float]:
    """Calls/s one at a time, and with 32 in flight; server in a child process."""
    with child_server("grpc") as port:
        one = asyncio.run(_grpc_calls(port, seconds, 1))
        many = asyncio.run(_grpc_calls(port, seconds / 2, 32))
    return one, many


# -- PostgreSQL -------------------------------------------------------------------


async def postgres_inserts(seconds: float) -> tuple[float, float]:
    """Single-row insert-and-commit per second on one connection, and on eight."""
    import asyncpg

    server = postgres_server_url()
    name = f"bench_baseline_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conns = [await asyncpg.connect(f"{server}/{name}") for _ in range(8)]
        await conns[0].execute(
            "CREATE TABLE rows (id bigserial PRIMARY KEY, body text NOT NULL, "
            "at timestamptz NOT NULL DEFAULT now())"
        )
        sql = "INSERT INTO rows (body) VALUES ($1)"

        async def loop(conn: asyncpg.Connection, deadline: float) -> int:
            statement = await conn.prepare(sql)
            count = 0
            while time.perf_counter() < deadline:
                await statement.fetch("a row of about the size of an outbox entry" * 4)
                count += 1
            return count

        async def rate(using: list[asyncpg.Connection], duration: float) -> float:
            started = time.perf_counter()
            counts = await asyncio.gather(*(loop(c, started + duration) for c in using))
            return sum(counts) / (time.perf_counter() - started)

        await rate(conns[:1], 0.5)  # warm up
        one = await rate(conns[:1], seconds)
        eight = await rate(conns, seconds)
        for conn in conns:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return one, eight


def postgres_version() -> str:
    import asyncpg

    async def ask() -> str:
        conn = await asyncpg.connect(postgres_server_url() + "/postgres")
        try:
            version = await conn.fetchval("SHOW server_version")
            sync = await conn.fetchval("SHOW synchronous_commit")
            fsync = await conn.fetchval("SHOW fsync")
        finally:
            await conn.close()
        return f"PostgreSQL {version} (synchronous_commit={sync}, fsync={fsync})"

    return asyncio.run(ask())


# -- NATS JetStream ---------------------------------------------------------------


@contextmanager
def local_nats() -> Iterator[str]:
    from haven_devstack.nats import LocalNats
    from haven_devstack.ports import free_port

    with tempfile.TemporaryDirectory(prefix="haven-bench-nats-") as folder:
        server = LocalNats(Path(folder) / "nats", free_port())
        server.start()
        try:
            yield server.url
        finally:
            server.stop()


async def bench_stream(js, name: str) -> str:  # type: ignore[no-untyped-def]
    """A stream configured as Haven's events stream (file storage); returns its subject."""
    from nats.js.api import StorageType, StreamConfig

    subject = f"{name.lower()}.events"
    await js.add_stream(
        StreamConfig(
            name=name, subjects=[subject], storage=StorageType.FILE, duplicate_window=120.0
        )
    )
    return subject


async def nats_publish_then_consume(url: str, seconds: float) -> tuple[float, float]:
    """Acknowledged publishes/s one at a time; then pull-consume-and-ack/s of them all."""
    import nats
    import nats.errors

    nc = await nats.connect(url)
    js = nc.jetstream(timeout=5)
    stream = f"BASELINE_{uuid.uuid4().hex[:6].upper()}"
    subject = await bench_stream(js, stream)
    for _ in range(200):  # warm up (consumed below with the rest)
        await js.publish(subject, PAYLOAD)
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        await js.publish(subject, PAYLOAD)
        count += 1
    published = count / (time.perf_counter() - started)

    sub = await js.pull_subscribe(subject, durable="baseline", stream=stream)
    total, consumed = count + 200, 0
    started = time.perf_counter()
    while consumed < total:
        try:
            batch = await sub.fetch(64, timeout=2)
        except (nats.errors.TimeoutError, TimeoutError):
            break
        for msg in batch:
            await msg.ack()
            consumed += 1
    consumed_rate = consumed / (time.perf_counter() - started)
    await nc.drain()
    if consumed != total:
        raise RuntimeError(f"consumed {consumed} of {total} messages")
    return published, consumed_rate


async def nats_loop(url: str, count: int, payload: bytes = PAYLOAD) -> float:
    """Messages/s through a bare publish-and-consume loop: one task publishes (each
    acknowledged, one at a time) while another pull-consumes and acks, at once;
    the clock stops when the consumer has acked the last one."""
    import nats
    import nats.errors

    nc = await nats.connect(url)
    js = nc.jetstream(timeout=5)
    stream = f"LOOP_{uuid.uuid4().hex[:6].upper()}"
    subject = await bench_stream(js, stream)
    sub = await js.pull_subscribe(subject, durable="loop", stream=stream)

    async def publish() -> None:
        for _ in range(count):
            await js.publish(subject, payload)

    async def consume() -> None:
        consumed = 0
        while consumed < count:
            try:
                batch = await sub.fetch(64, timeout=1)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            for msg in batch:
                await msg.ack()
                consumed += 1

    started = time.perf_counter()
    await asyncio.gather(publish(), consume())
    rate = count / (time.perf_counter() - started)
    await nc.drain()
    return rate


# -- the report -------------------------------------------------------------------


def beside(label: str, value: float, issue: float, unit: str) -> str:
    return (
        f"{label:54s} {value:9,.0f} {unit:9s} issue quoted {issue:7,.0f}   "
        f"now/then {value / issue:5.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each measurement")
    parser.add_argument("--serve", choices=("hello", "fastapi", "grpc"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "hello":
        serve_hello(args.port)
        return 0
    if args.serve == "fastapi":
        serve_fastapi(args.port)
        return 0
    if args.serve == "grpc":
        serve_grpc(args.port)
        return 0

    began = time.monotonic()
    print(f"machine: {machine()}")
    print(f"HTTP: {http_stack()}; load: {wrk_settings()}, {args.seconds:.0f} s")
    print(f"database: {postgres_version()} at {postgres_server_url()}")
    hello = hello_world(args.seconds)
    grpc_one, grpc_many = grpc_unary(args.seconds)
    pg_one, pg_eight = asyncio.run(postgres_inserts(args.seconds))
    with local_nats() as url:
        published, consumed = asyncio.run(nats_publish_then_consume(url, args.seconds))
        loop = asyncio.run(nats_loop(url, 20_000))
    print()
    hello_label = "uvicorn JSON hello-world under wrk"
    print(beside(hello_label, hello.requests_per_second, ISSUE["hello"], "req/s"))
    print(f"{'':54s} latency {hello.latency}")
    rows = [
        ("grpc.aio unary hop, one call at a time", grpc_one, "grpc", "calls/s"),
        ("PostgreSQL insert-and-commit, one connection", pg_one, "pg1", "rows/s"),
        ("PostgreSQL insert-and-commit, eight connections", pg_eight, "pg8", "rows/s"),
        ("JetStream acknowledged publishes, one at a time", published, "publish", "msgs/s"),
        ("JetStream pull-consume-and-ack (batches of 64)", consumed, "consume", "msgs/s"),
    ]
    for label, value, key, unit in rows:
        print(beside(label, value, ISSUE[key], unit))
    print(f"{'grpc.aio unary hop, 32 calls in flight (for scale)':54s} {grpc_many:9,.0f} calls/s")
    print(f"{'JetStream publish-and-consume loop, at once (20,000)':54s} {loop:9,.0f} msgs/s")
    print(f"\n{time.monotonic() - began:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
