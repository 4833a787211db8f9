"""Events: protobuf payloads in the shared envelope, and their NATS subjects.

The subject is derived from the payload's protobuf name, so
haven.incidents.v1.IncidentRecorded travels on
haven.events.incidents.v1.IncidentRecorded. All events live in one stream.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message

from haven.events.v1.envelope_pb2 import EventEnvelope
from haven_runtime import tracing

STREAM = "HAVEN_EVENTS"
SUBJECT_PREFIX = "haven.events."
STREAM_SUBJECTS = [SUBJECT_PREFIX + ">"]

P = TypeVar("P", bound=Message)


def subject_for(full_name: str) -> str:
    return SUBJECT_PREFIX + full_name.removeprefix("haven.")


def timestamp(at: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(at)
    return ts


def envelope_for(
    payload: Message, *, event_id: uuid.UUID, producer: str, at: datetime
) -> EventEnvelope:
    packed = any_pb2.Any()
    packed.Pack(payload)
    return EventEnvelope(
        event_id=str(event_id),
        type=payload.DESCRIPTOR.full_name,
        occurred_at=timestamp(at),
        producer=producer,
        payload=packed,
        trace_context=tracing.current_headers(),
    )


@dataclass(frozen=True)
class Event(Generic[P]):
    """A received event: the envelope's facts and the unpacked payload."""

    event_id: str
    type: str
    producer: str
    occurred_at: datetime
    payload: P


def open_envelope(envelope: EventEnvelope, payload_type: type[P]) -> Event[P]:
    payload = payload_type()
    if not envelope.payload.Unpack(payload):
        raise ValueError(
            f"event {envelope.event_id} does not carry {payload_type.DESCRIPTOR.full_name}"
        )
    return Event(
        event_id=envelope.event_id,
        type=envelope.type,
        producer=envelope.producer,
        occurred_at=envelope.occurred_at.ToDatetime(tzinfo=UTC),
        payload=payload,
    )
