"""Trace context: continued from a traceparent, passed on in gRPC metadata and events, logged."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime

import pytest

from haven.identity.v1.identity_pb2 import PasswordChanged
from haven_runtime import tracing
from haven_runtime.clients import call_metadata
from haven_runtime.events import envelope_for


def traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def test_a_span_continues_the_callers_trace_with_a_span_of_its_own():
    trace_id, header = traceparent()
    with tracing.span("incoming", {"traceparent": header}):
        current_trace, current_span = tracing.ids()  # type: ignore[misc]
        passed_on = tracing.current_headers()["traceparent"]
    assert current_trace == trace_id
    assert current_span != header.split("-")[2]
    assert passed_on == f"00-{trace_id}-{current_span}-01"
    assert tracing.ids() is None, "the trace ends with its block"


def test_without_a_caller_trace_a_new_one_begins():
    with tracing.span("fresh"):
        first = tracing.ids()
    with tracing.span("fresh"):
        second = tracing.ids()
    assert first and second and first[0] != second[0]


def test_outgoing_calls_and_events_carry_the_trace():
    trace_id, header = traceparent()
    with tracing.span("incoming", {"TraceParent": header}):
        metadata = dict(call_metadata(token="", request_id="r-1"))
        envelope = envelope_for(
            PasswordChanged(user_id="u-1"),
            event_id=uuid.uuid4(),
            producer="identity",
            at=datetime.now(UTC),
        )
    assert metadata["traceparent"].split("-")[1] == trace_id
    assert envelope.trace_context["traceparent"].split("-")[1] == trace_id
    outside = dict(call_metadata(token="", request_id="r-2"))
    assert "traceparent" not in outside


def test_log_lines_inside_a_trace_carry_its_ids_and_others_do_not():
    trace_id, header = traceparent()
    with tracing.span("incoming", {"traceparent": header}):
        inside = tracing.add_trace_ids(None, "info", {"message": "x"})
    outside = tracing.add_trace_ids(None, "info", {"message": "y"})
    assert inside["trace_id"] == trace_id and len(inside["span_id"]) == 16
    assert "trace_id" not in outside


def test_a_malformed_traceparent_starts_a_new_trace_rather_than_failing():
    with tracing.span("incoming", {"traceparent": "00-not-a-trace-01"}):
        current = tracing.ids()
    assert current is not None and current[0] != "not"


@pytest.mark.parametrize("caller_flags", [None, "00", "01", "02", "03", "05"])
def test_a_span_has_the_flags_and_tracestate_the_sdk_would_give_it(caller_flags):
    # Spans are made without the SDK's tracer (nothing records them); what they
    # pass on must still be what the SDK's default sampler would have decided.
    carrier = {}
    if caller_flags is not None:
        carrier = {
            "traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{caller_flags}",
            "tracestate": "vendor=value",
        }
    parent = tracing._propagator.extract(carrier)
    expected = tracing._tracer.start_span("sdk", context=parent).get_span_context()
    with tracing.span("incoming", carrier) as current:
        made = current.get_span_context()
    assert made.trace_flags == expected.trace_flags
    assert made.trace_state == expected.trace_state
    assert made.is_remote is False
    if caller_flags is not None:
        assert made.trace_id == expected.trace_id
