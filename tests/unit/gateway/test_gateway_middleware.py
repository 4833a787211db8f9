"""The gateway's one middleware: every answer is traced, logged, counted and carries its headers."""

from __future__ import annotations

import secrets

import pytest
import structlog
from prometheus_client import REGISTRY
from structlog.testing import CapturingLogger

from haven_gateway import request_context
from haven_runtime.tracing import add_trace_ids

from .conftest import gateway_without_services


@pytest.fixture
async def client():
    async with gateway_without_services(max_body_bytes=1000) as client:
        yield client


def requests_counted(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("haven_http_requests_total", labels) or 0.0


def latencies_counted(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("haven_http_request_duration_seconds_count", labels) or 0.0


async def test_every_answer_is_counted_and_timed_by_its_route_template(client):
    cases = [
        ("GET", "/healthz", "/healthz", "200"),
        ("GET", "/api/v1/me", "/api/v1/me", "401"),
        (
            "GET",
            f"/api/v1/incidents/{secrets.token_hex(8)}",
            "/api/v1/incidents/{incident_id}",
            "401",
        ),
        ("GET", "/api/v1/no-such-thing", "unmatched", "404"),
    ]
    before = [requests_counted(m, r, s) for m, _, r, s in cases]
    timed_before = [latencies_counted(m, r, s) for m, _, r, s in cases]
    for method, path, _, status in cases:
        assert str((await client.request(method, path)).status_code) == status
    after = [requests_counted(m, r, s) for m, _, r, s in cases]
    timed_after = [latencies_counted(m, r, s) for m, _, r, s in cases]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1.0] * len(cases)
    assert [a - b for a, b in zip(timed_after, timed_before, strict=True)] == [1.0] * len(cases)


async def test_a_body_refused_for_its_size_is_counted_as_413(client):
    before = requests_counted("POST", "unmatched", "413")
    refused = await client.post("/api/v1/auth/login", json={"email": "a" * 2000})
    assert refused.status_code == 413
    assert requests_counted("POST", "unmatched", "413") == before + 1


async def test_every_answer_carries_the_request_id_and_the_no_store_and_nosniff_headers(client):
    for path in ("/healthz", "/api/v1/me", "/api/v1/no-such-thing"):
        response = await client.get(path, headers={"X-Request-ID": "req-42"})
        assert response.headers["x-request-id"] == "req-42", path
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["x-content-type-options"] == "nosniff", path


async def test_the_access_log_line_carries_the_callers_trace_and_the_request_id(
    client, monkeypatch
):
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    # The gateway's access logger, with the processors that stamp the request's
    # context and trace on every line, writing to a list. (Not capture_logs:
    # structlog caches a logger on first use, so once any earlier test has
    # configured logging, reconfiguring it here would not reach this one.)
    captured = CapturingLogger()
    monkeypatch.setattr(
        request_context,
        "log",
        structlog.wrap_logger(
            captured,
            processors=[structlog.contextvars.merge_contextvars, add_trace_ids],
            wrapper_class=structlog.make_filtering_bound_logger(0),
        ),
    )
    response = await client.get(
        "/api/v1/me", headers={"traceparent": traceparent, "X-Request-ID": "req-7"}
    )
    lines = [
        {
            "event": c.args[0] if c.args else c.kwargs.get("event"),
            "log_level": c.method_name,
            **c.kwargs,
        }
        for c in captured.calls
    ]
    assert response.status_code == 401
    access = [line for line in lines if line.get("event") == "http"]
    assert len(access) == 1, lines
    line = access[0]
    assert (line["trace_id"], line["request_id"]) == (trace_id, "req-7")
    assert (line["method"], line["path"], line["status"], line["log_level"]) == (
        "GET",
        "/api/v1/me",
        401,
        "info",
    )
    assert line["ms"] >= 0
