"""W3C trace context from the gateway through gRPC and NATS, and a trace_id on every log line.

The gateway starts a trace for each HTTP request (or continues the one in the
client's `traceparent` header). Every gRPC call carries it in its metadata,
every event carries it in its envelope (`trace_context`) and, once published,
in the NATS message's headers; each hop continues it in a span of its own.
The log processor stamps the current trace_id and span_id on every line, so
one incident can be followed through all five processes by its trace_id.

OpenTelemetry's API and SDK make the ids and its W3C propagator reads and
writes the headers. No span is exported: Haven needs the ids in its logs, not a
tracing backend, and a deployment that wants one can add an exporter here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
# A provider of Haven's own rather than the global one: nothing else in the
# process (a library that instruments itself) can change what it does.
_tracer = TracerProvider().get_tracer("haven")

SERVER = trace.SpanKind.SERVER
CONSUMER = trace.SpanKind.CONSUMER

# The headers that carry the trace, in gRPC metadata and NATS messages alike.
FIELDS = tuple(_propagator.fields)


def inject(carrier: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Write the current trace (traceparent, tracestate) into `carrier`; return it."""
    _propagator.inject(carrier)
    return carrier


def current_headers() -> dict[str, str]:
    return dict(inject({}))


@contextmanager
def span(
    name: str, carrier: Mapping[str, str] | None = None, kind: trace.SpanKind = SERVER
) -> Iterator[Any]:
    """A span continuing the trace in `carrier` (or a new trace), current inside the block."""
    parent = _propagator.extract({k.lower(): v for k, v in (carrier or {}).items()})
    token = otel_context.attach(parent)
    try:
        with _tracer.start_as_current_span(name, kind=kind) as current:
            yield current
    finally:
        otel_context.detach(token)


def ids() -> tuple[str, str] | None:
    """The current (trace_id, span_id) in hex, or None outside any trace."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def add_trace_ids(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: trace_id and span_id on every line written inside a trace."""
    current = ids()
    if current is not None:
        event.setdefault("trace_id", current[0])
        event.setdefault("span_id", current[1])
    return event


class TraceContextMiddleware:
    """ASGI middleware: each HTTP request runs in a span that continues the client's trace."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope.get("headers", [])
            if name.decode("latin-1").lower() in FIELDS
        }
        with span(f"{scope.get('method', '')} {scope.get('path', '')}", headers):
            await self.app(scope, receive, send)
