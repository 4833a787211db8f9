"""Running a service: gRPC server, health, reflection, background workers, shutdown.

On SIGTERM or SIGINT the service leaves the load balancer first (health goes
NOT_SERVING), stops taking new calls while in-flight calls finish within the
grace period, lets consumers finish the message in hand, stops the relay, then
drains NATS and closes the database pool.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from haven_runtime.auth import TokenVerifier, load_public_key
from haven_runtime.bus import EventBus
from haven_runtime.config import ServiceSettings
from haven_runtime.consumer import EventConsumer, Handler
from haven_runtime.db import Database
from haven_runtime.events import STREAM
from haven_runtime.interceptors import ServiceInterceptor
from haven_runtime.logging import configure_logging, get_logger
from haven_runtime.metrics import (
    consumer_sample,
    outbox_sample,
    periodically,
    start_metrics_server,
)
from haven_runtime.migrations import upgrade_async
from haven_runtime.relay import OutboxRelay

log = get_logger("haven.server")

Registrar = Callable[[grpc.aio.Server], Sequence[str]]


@dataclass
class Service:
    """Everything a service is made of; `run()` brings it to life."""

    name: str
    settings: ServiceSettings
    migrations_dir: Path
    db: Database = field(init=False)
    bus: EventBus = field(init=False)
    verifier: TokenVerifier = field(init=False)
    consumers: list[EventConsumer] = field(default_factory=list)
    background: list[Callable[[asyncio.Event], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    relay: OutboxRelay | None = field(init=False, default=None)
    stopping: asyncio.Event = field(init=False)
    bound_port: int = field(init=False, default=0)
    metrics_port: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        configure_logging(self.name, self.settings.log_level)
        self.db = Database(self.settings.database_url, pool_size=self.settings.db_pool_size)
        self.bus = EventBus(self.settings.nats_url, name=f"haven-{self.name}")
        self.verifier = TokenVerifier(load_public_key(self.settings.token_public_key))
        self.relay = OutboxRelay(self.db, self.bus)

    def consume(
        self, durable: str, handlers: Mapping[type[Message], Handler], **options: Any
    ) -> None:
        self.consumers.append(
            EventConsumer(
                service=self.name,
                durable=durable,
                db=self.db,
                bus=self.bus,
                handlers=handlers,
                **options,
            )
        )

    async def run(self, register: Registrar, ready: asyncio.Event | None = None) -> None:
        self.stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stopping.set)
            except (NotImplementedError, RuntimeError):  # not the main thread (tests)
                pass

        if self.settings.migrate_on_start:
            await upgrade_async(self.migrations_dir, self.settings.database_url)
            log.info("migrations applied")

        server = grpc.aio.server(
            interceptors=[ServiceInterceptor(self.verifier)],
            # Clients reconnect (and so look the service's name up again) every few
            # minutes, so replicas an autoscaler adds get their share of the calls.
            options=[
                ("grpc.max_connection_age_ms", 120_000),
                ("grpc.max_connection_age_grace_ms", 330_000),
            ],
        )
        names = list(register(server))
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            [
                *names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        self.bound_port = server.add_insecure_port(
            f"{self.settings.grpc_host}:{self.settings.grpc_port}"
        )
        await server.start()

        workers = [asyncio.create_task(self.bus.connect(self.stopping), name="bus")]
        if self.relay is not None:
            workers.append(asyncio.create_task(self.relay.run(self.stopping), name="relay"))
        workers += [
            asyncio.create_task(c.run(self.stopping), name=c.durable) for c in self.consumers
        ]
        self.metrics_port = start_metrics_server(self.settings.metrics_port)
        durables = [c.durable for c in self.consumers]
        samplers = [periodically(outbox_sample(self.db))]
        samplers.append(periodically(consumer_sample(self.bus, STREAM, durables)))
        workers += [
            asyncio.create_task(job(self.stopping)) for job in [*self.background, *samplers]
        ]

        for name in ["", *names]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("service started", port=self.bound_port)
        if ready is not None:
            ready.set()

        await self.stopping.wait()
        log.info("shutting down")
        await health_servicer.enter_graceful_shutdown()
        # In-flight calls finish; new ones are refused.
        await server.stop(self.settings.shutdown_grace_seconds)
        # Consumers finish the message in hand, the relay its batch; anything
        # still stuck after the grace period (a peer that never answers) is cancelled.
        _, stuck = await asyncio.wait(workers, timeout=self.settings.shutdown_grace_seconds)
        for task in stuck:
            log.warning("worker did not stop in time, cancelling", worker=task.get_name())
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for callback in self.on_stop:
            await callback()
        await self.bus.close()
        await self.db.dispose()
        log.info("stopped")
