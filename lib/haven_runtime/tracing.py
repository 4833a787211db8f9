"""W3C trace context from the gateway through gRPC and NATS, and a trace_id on every log line.

The gateway starts a trace for each HTTP request (or continues the one in the
client's `traceparent` header). Every gRPC call carries it in its metadata,
every event carries it in its envelope (`trace_context`) and, once published,
in the NATS message's headers; each hop continues it in a span of its own.
The log processor stamps the current trace_id and span_id on every line, so
one incident can be followed through all five processes by its trace_id.

OpenTelemetry's API and SDK make the ids and its W3C propagator reads and
writes the headers. No span is recorded or exported: Haven needs the ids in its
logs, not a tracing backend, and a deployment that wants one can add an
exporter here (see `span`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
# A provider of Haven's own rather than the global one: nothing else in the
# process (a library that instruments itself) can change what it does.
_tracer = TracerProvider().get_tracer("haven")
_ids = RandomIdGenerator()
# What the SDK sets on a trace it begins: sampled, and its id random (W3C level 2).
# A continued trace keeps these two of its caller's flags, as in the SDK.
_NEW_TRACE_FLAGS = trace.TraceFlags(trace.TraceFlags.SAMPLED | trace.TraceFlags.RANDOM_TRACE_ID)

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
    """A span continuing the trace in `carrier` (or a new trace), current inside the block.

    The span carries ids and nothing else: nothing here records or exports spans,
    so it is OpenTelemetry's NonRecordingSpan with ids from the SDK's generator
    and the trace flags the SDK's default sampler (parent-based, always on)
    would give it: a new trace is sampled, a continued one keeps its caller's
    flags and tracestate. Going through the SDK tracer costs about 15 us a
    span, which the gateway pays on every request, for a recording nobody
    reads; a deployment that adds an exporter starts spans with `_tracer`
    here instead, and then `name` and `kind` name them.
    """
    parent = _propagator.extract({k.lower(): v for k, v in (carrier or {}).items()})
    caller = trace.get_current_span(parent).get_span_context()
    if caller.is_valid:
        trace_id, state = caller.trace_id, caller.trace_state
        flags = trace.TraceFlags(caller.trace_flags & _NEW_TRACE_FLAGS)
    else:
        trace_id, flags, state = _ids.generate_trace_id(), _NEW_TRACE_FLAGS, None
    current = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id, _ids.generate_span_id(), is_remote=False, trace_flags=flags, trace_state=state
        )
    )
    token = otel_context.attach(trace.set_span_in_context(current, parent))
    try:
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
