"""gRPC channels to other services: load balanced, with deadlines and the caller's token.

An address may be a list ("10.0.0.5:50051,10.0.0.6:50051") or a DNS name with
several records ("dns:///incidents.haven.svc:50051"); calls are spread over
all of them (round robin), as on Kubernetes with a headless Service.
"""

from __future__ import annotations

import json

import grpc

from haven_runtime import context as ctx
from haven_runtime import tracing

DEFAULT_DEADLINE_SECONDS = 5.0

_SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)


def target_for(address: str) -> str:
    """Turn "a:1,b:2" into an ipv4/ipv6 target list; pass dns:/// and others through."""
    if "," in address:
        hosts = [a.strip() for a in address.split(",") if a.strip()]
        return "ipv4:" + ",".join(hosts)
    return address


def channel(address: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        target_for(address),
        options=[
            ("grpc.service_config", _SERVICE_CONFIG),
            ("grpc.enable_retries", 1),
            ("grpc.keepalive_time_ms", 30_000),
            # gRPC waits up to two minutes between reconnection attempts by
            # default: after a minute-long outage a restarted service went
            # unused for 11 s. Try at least every 2 s.
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", 2_000),
            # A refusal naming many fields carries its details in the trailers;
            # gRPC's default 8 KiB soft limit drops some such answers at random.
            ("grpc.max_metadata_size", 64 * 1024),
            ("grpc.absolute_max_metadata_size", 128 * 1024),
        ],
    )


def call_metadata(
    token: str | None = None,
    request_id: str | None = None,
    client_address: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """Metadata for an outgoing call: the caller's token, the request id and
    the client's address travel on."""
    token = token if token is not None else ctx.current_internal_token()
    request_id = request_id if request_id is not None else ctx.request_id.get()
    address = client_address if client_address is not None else ctx.client_address.get()
    metadata: list[tuple[str, str]] = []
    if token:
        metadata.append(("authorization", f"Bearer {token}"))
    if request_id:
        metadata.append(("x-request-id", request_id))
    if address:
        metadata.append(("x-client-address", address))
    metadata.extend(tracing.current_headers().items())
    return tuple(metadata)
