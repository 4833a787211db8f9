"""Prometheus metrics, served on their own port (HAVEN_METRICS_PORT; 0 serves none).

What operators watch (deploy/components/monitoring/alerts.yaml says when to worry):

- every gRPC call and HTTP request, counted and timed by method and status;
- the outbox: events not yet published and the age of the oldest;
- each durable consumer: events not yet delivered, delivered but not yet
  acknowledged, and being redelivered after a failure;
- notifications' email queue depth and files' uploaded bytes.

Counters are updated where the work happens. Gauges that need a query (the
outbox, consumers, the email queue) are sampled by a background job every
few seconds, and only in a process that serves metrics, so tests and `make
run` without a metrics port pay nothing.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server
from sqlalchemy import text

from haven_runtime.logging import get_logger

log = get_logger(__name__)

# Seconds; API calls should finish well under a second, uploads may take longer.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SAMPLE_INTERVAL_SECONDS = 5.0

GRPC_REQUESTS = Counter(
    "haven_grpc_requests",
    "gRPC calls handled, by method and status code",
    ["grpc_method", "grpc_code"],
)
GRPC_LATENCY = Histogram(
    "haven_grpc_request_duration_seconds",
    "Time to handle a gRPC call, by method and status code",
    ["grpc_method", "grpc_code"],
    buckets=LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "haven_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "haven_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
OUTBOX_PENDING = Gauge(
    "haven_outbox_pending_events", "Events in the outbox not yet acknowledged by JetStream"
)
OUTBOX_OLDEST_AGE = Gauge(
    "haven_outbox_oldest_pending_age_seconds",
    "Age of the oldest unpublished outbox event (0 when there is none)",
)
CONSUMER_PENDING = Gauge(
    "haven_consumer_pending_messages",
    "Events in the stream not yet delivered to this durable consumer",
    ["durable"],
)
CONSUMER_ACK_PENDING = Gauge(
    "haven_consumer_ack_pending_messages",
    "Events delivered to this durable consumer and not yet acknowledged",
    ["durable"],
)
CONSUMER_REDELIVERED = Gauge(
    "haven_consumer_redelivered_messages",
    "Events being redelivered to this durable consumer after a failure or timeout",
    ["durable"],
)
EMAIL_QUEUE_DEPTH = Gauge(
    "haven_email_queue_depth", "Emails queued or being sent, not yet delivered or abandoned"
)
UPLOAD_BYTES = Counter("haven_upload_bytes", "Bytes of files accepted by uploads")

_serving = False


def start_metrics_server(port: int, host: str = "0.0.0.0") -> int:
    """Serve /metrics on `port` in a thread; return the port (0 and nothing served if 0)."""
    global _serving
    if not port:
        return 0
    server, _ = start_http_server(port, addr=host)
    _serving = True
    bound = int(server.server_address[1])
    log.info("metrics served", port=bound)
    return bound


def serving() -> bool:
    return _serving


@functools.lru_cache(maxsize=1024)
def _http_series(method: str, route: str, status: int) -> tuple[Any, Any]:
    # Looking a labelled series up takes a lock and a validation each time; the
    # gateway answers thousands of requests a second on a few dozen series.
    # Bounded: routes are templates and methods and statuses few, but a client
    # can send any method.
    labels = (method, route, str(status))
    return HTTP_REQUESTS.labels(*labels), HTTP_LATENCY.labels(*labels)


def observe_http(method: str, route: str, status: int, started: float) -> None:
    """Count and time one HTTP request by its route template (never the path itself,
    so ids do not become label values; "unmatched" when no route matched).
    `started` is a time.perf_counter() reading."""
    requests, latency = _http_series(method, route, status)
    requests.inc()
    latency.observe(time.perf_counter() - started)


def observe_rpc(method: str, code: str, started: float) -> None:
    """Count and time one gRPC call; `started` is a time.perf_counter() reading."""
    GRPC_REQUESTS.labels(method, code).inc()
    GRPC_LATENCY.labels(method, code).observe(time.perf_counter() - started)


Sample = Callable[[], Awaitable[None]]


def periodically(sample: Sample, interval: float = SAMPLE_INTERVAL_SECONDS) -> Any:
    """A background job (Service.background) running `sample` until the service stops.

    Does nothing in a process that serves no metrics. A failed sample (the
    database or NATS away) is logged and tried again next time.
    """

    async def job(stopping: asyncio.Event) -> None:
        if not _serving:
            return
        while not stopping.is_set():
            try:
                await sample()
            except Exception as error:  # noqa: BLE001 - metrics never stop a service
                log.debug("metrics sample failed", error=str(error) or type(error).__name__)
            try:
                await asyncio.wait_for(stopping.wait(), timeout=interval)
            except TimeoutError:
                pass

    return job


def query_gauge(gauge: Gauge, db: Any, sql: str) -> Sample:
    """A sample that sets `gauge` to the single number `sql` returns."""

    async def sample() -> None:
        async with db.engine.connect() as conn:
            gauge.set((await conn.execute(text(sql))).scalar_one() or 0)

    return sample


def outbox_sample(db: Any) -> Sample:
    async def sample() -> None:
        async with db.engine.connect() as conn:
            pending, age = (
                await conn.execute(
                    text(
                        "SELECT count(*), "
                        "coalesce(extract(epoch FROM now() - min(created_at)), 0) "
                        "FROM outbox WHERE published_at IS NULL"
                    )
                )
            ).one()
        OUTBOX_PENDING.set(pending)
        OUTBOX_OLDEST_AGE.set(float(age))

    return sample


def consumer_sample(bus: Any, stream: str, durables: list[str]) -> Sample:
    async def sample() -> None:
        if bus.js is None or not bus.ready.is_set():
            return
        for durable in durables:
            info = await bus.js.consumer_info(stream, durable)
            CONSUMER_PENDING.labels(durable).set(info.num_pending or 0)
            CONSUMER_ACK_PENDING.labels(durable).set(info.num_ack_pending or 0)
            CONSUMER_REDELIVERED.labels(durable).set(info.num_redelivered or 0)

    return sample
