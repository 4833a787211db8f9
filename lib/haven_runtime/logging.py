"""Structured JSON logs: `service` and `request_id` on every line.

Request-scoped values (request_id, user_id, school_id) live in structlog's
contextvars, bound by the gRPC interceptor or the HTTP middleware. Keys that
could carry secrets or incident text are dropped before rendering, so a careless
`log.info(..., password=...)` never reaches the log.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from haven_runtime.tracing import add_trace_ids

REDACTED_KEYS = frozenset(
    {
        "password",
        "token",
        "session_token",
        "internal_token",
        "csrf_token",
        "secret",
        "totp_secret",
        "code",
        "description",
        "text",
        "note",
        "reset_url",
        "authorization",
    }
)


def _drop_sensitive(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in REDACTED_KEYS.intersection(event):
        event[key] = "[redacted]"
    return event


def _stamper(service: str) -> Any:
    def stamp(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        event["service"] = service
        # Lines outside any request (start-up, relay, consumers) say so plainly.
        event.setdefault("request_id", None)
        return event

    return stamp


def configure_logging(service: str, level: str = "INFO") -> None:
    """Configure structlog and the standard library to write JSON lines to stdout."""
    numeric = logging.getLevelName(level)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        _stamper(service),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_sensitive,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.EventRenamer("message"),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    # Libraries (uvicorn, alembic, nats) log through the standard library; send
    # them through the same renderer so every line is JSON.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.EventRenamer("message"),
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
