"""Metrics and traces, read from every process of a real stack after real traffic.

The stack is started here rather than by the shared fixture because each
process needs its own HAVEN_METRICS_PORT. The traffic is a user's: register,
log in, a failed login, an upload; then the outages operators watch for: the
SMTP relay away (the email queue grows) and NATS away (the outbox backs up).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from haven_devstack.background import BackgroundStack
from haven_devstack.ports import free_port
from haven_devstack.stack import Stack, StackPorts

from .mailbox import mail_to, text_of, wait_for

PROCESSES = ("identity", "incidents", "notifications", "files", "gateway")
STRONG = "correct horse battery staple lighthouse"
TOKEN_IN_LINK = re.compile(r"/reset-password\?token=([A-Za-z0-9_\-]+)")
ADMIN = "mira.metrics@kestrel.example"


@contextmanager
def stack_with_metrics(state_dir: Path) -> Iterator[tuple[BackgroundStack, dict[str, int]]]:
    """The whole stack, like background_stack, with a metrics port per process."""
    stack = Stack(
        state_dir,
        StackPorts.free(),
        os.environ.get("HAVEN_POSTGRES_URL"),
        f"metrics_{uuid.uuid4().hex[:8]}",
    )
    metrics_ports = {name: free_port() for name in PROCESSES}
    stack.start_infrastructure()
    logs = stack.state_dir / "logs"
    logs.mkdir(exist_ok=True)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    running = BackgroundStack(stack, f"http://127.0.0.1:{stack.ports.http}", processes, logs)
    try:
        for name, argv, env in stack.processes():
            extra = {"HAVEN_METRICS_PORT": str(metrics_ports[name])} if name in PROCESSES else {}
            with open(logs / f"{name}.log", "ab") as log:
                processes[name] = subprocess.Popen(
                    argv,
                    env={**os.environ, **env, **extra},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        running.wait_ready()
        yield running, metrics_ports
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        stack.stop_infrastructure()


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with stack_with_metrics(tmp_path_factory.mktemp("metered")) as pair:
        yield pair


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample a process exposes: (name, labels) -> value."""
    reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert reply.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }


def total(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def present(samples: dict, name: str, **labels: str) -> bool:  # type: ignore[type-arg]
    wanted = set(labels.items())
    return any(n == name and wanted <= ls for (n, ls) in samples)


def register_and_login(stack: BackgroundStack, client: httpx.Client) -> dict[str, str]:
    result = stack.cli(
        "admin",
        "bootstrap",
        "--trust",
        "Kestrel Trust",
        "--school",
        "Kestrel Primary",
        "--admin-email",
        ADMIN,
        "--admin-name",
        "Mira Metrics",
    )
    assert result.returncode == 0, result.stderr
    assert client.post("/api/v1/auth/password-reset", json={"email": ADMIN}).status_code == 202
    message = wait_for(lambda: mail_to(stack, ADMIN))[-1]
    token = TOKEN_IN_LINK.search(text_of(message)).group(1)  # type: ignore[union-attr]
    reply = client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": STRONG}
    )
    assert reply.status_code == 204, reply.text
    reply = client.post("/api/v1/auth/login", json={"email": ADMIN, "password": STRONG})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def test_every_process_counts_its_traffic_on_its_own_port(metered) -> None:  # type: ignore[no-untyped-def]
    stack, ports = metered
    with httpx.Client(base_url=stack.base_url, timeout=15) as client:
        auth = register_and_login(stack, client)
        wrong = client.post("/api/v1/auth/login", json={"email": ADMIN, "password": "not it"})
        assert wrong.status_code == 401
        body = b"Notes from the meeting about the playground.\n" * 40
        upload = client.post(
            "/api/v1/files", headers=auth, files={"file": ("notes.txt", body, "text/plain")}
        )
        assert upload.status_code == 201, upload.text

    gateway = scrape(ports["gateway"])
    login = {"method": "POST", "route": "/api/v1/auth/login"}
    assert total(gateway, "haven_http_requests_total", status="200", **login) >= 1
    assert total(gateway, "haven_http_requests_total", status="401", **login) >= 1
    assert total(gateway, "haven_http_request_duration_seconds_count", **login) >= 2
    assert total(gateway, "haven_http_request_duration_seconds_sum", **login) > 0
    # Routes are templates, never paths with ids in them.
    assert not any(
        n == "haven_http_requests_total" and re.search(r"[0-9a-f]{8}-", dict(ls)["route"])
        for (n, ls) in gateway
    )

    identity = scrape(ports["identity"])
    assert total(identity, "haven_grpc_requests_total", grpc_code="OK") >= 3
    failed = [
        dict(ls)
        for (n, ls), v in identity.items()
        if n == "haven_grpc_requests_total" and v > 0 and dict(ls)["grpc_code"] != "OK"
    ]
    assert failed, "the wrong password was answered with an error status and counted"
    assert total(identity, "haven_grpc_request_duration_seconds_sum") > 0

    files = scrape(ports["files"])
    assert total(files, "haven_upload_bytes_total") == len(body)
    assert total(files, "haven_grpc_requests_total", grpc_code="OK") >= 1

    # Each service reports its outbox and consumers (sampled every few seconds).
    notifications_port = ports["notifications"]
    wait_for(
        lambda: present(
            scrape(notifications_port),
            "haven_consumer_pending_messages",
            durable="notifications-identity",
        ),
        timeout=60,
    )
    notifications = scrape(notifications_port)
    for gauge in (
        "haven_consumer_pending_messages",
        "haven_consumer_ack_pending_messages",
        "haven_consumer_redelivered_messages",
    ):
        assert present(notifications, gauge, durable="notifications-alerts"), gauge
    assert present(notifications, "haven_email_queue_depth")
    for name in PROCESSES[:4]:
        assert present(scrape(ports[name]), "haven_outbox_pending_events"), name


def log_lines(stack: BackgroundStack, process: str) -> list[dict]:  # type: ignore[type-arg]
    lines = []
    for raw in (stack.logs / f"{process}.log").read_text(errors="replace").splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
    return lines


def test_one_trace_id_follows_a_request_from_the_gateway_through_grpc_and_nats(metered) -> None:  # type: ignore[no-untyped-def]
    stack, _ = metered
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    with httpx.Client(base_url=stack.base_url, timeout=15) as client:
        reply = client.post(
            "/api/v1/auth/password-reset",
            json={"email": ADMIN},
            headers={"traceparent": traceparent},
        )
        assert reply.status_code == 202

    def traced(process: str) -> list[dict]:  # type: ignore[type-arg]
        return [line for line in log_lines(stack, process) if line.get("trace_id") == trace_id]

    # The gateway's request line, identity's gRPC call, and notifications handling
    # the event that identity published through its outbox and NATS.
    gateway = wait_for(lambda: traced("gateway"), timeout=30)
    assert any(line["message"] == "http" for line in gateway)
    identity = wait_for(lambda: traced("identity"), timeout=30)
    assert any(line["message"] == "rpc" for line in identity)
    notifications = wait_for(lambda: traced("notifications"), timeout=60)
    assert any("email queued" in line["message"] for line in notifications)
    # Each hop is a span of its own within the one trace.
    span_ids = {line["span_id"] for line in gateway + identity + notifications}
    assert len(span_ids) >= 3


def test_the_email_queue_grows_while_the_smtp_relay_is_away(metered) -> None:  # type: ignore[no-untyped-def]
    stack, ports = metered
    mail = stack.processes["mail"]
    os.killpg(mail.pid, signal.SIGTERM)
    mail.wait(timeout=30)
    with httpx.Client(base_url=stack.base_url, timeout=15) as client:
        assert client.post("/api/v1/auth/password-reset", json={"email": ADMIN}).status_code == 202
    depth = wait_for(
        lambda: total(scrape(ports["notifications"]), "haven_email_queue_depth"), timeout=90
    )
    assert depth >= 1


def test_the_outbox_backlog_and_its_age_show_while_nats_is_away(metered) -> None:  # type: ignore[no-untyped-def]
    stack, ports = metered
    stack.stack.nats.stop()
    try:
        with httpx.Client(base_url=stack.base_url, timeout=15) as client:
            reply = client.post("/api/v1/auth/password-reset", json={"email": ADMIN})
            assert reply.status_code == 202
        identity = wait_for(
            lambda: (
                (s := scrape(ports["identity"]))
                and total(s, "haven_outbox_pending_events") >= 1
                and total(s, "haven_outbox_oldest_pending_age_seconds") > 0
                and s
            ),
            timeout=90,
        )
        assert total(identity, "haven_outbox_pending_events") >= 1
    finally:
        stack.stack.nats.start()
    # Once NATS is back the relay publishes, and the figures fall back to zero.
    wait_for(
        lambda: total(scrape(ports["identity"]), "haven_outbox_pending_events") == 0,
        timeout=90,
    )
    assert total(scrape(ports["identity"]), "haven_outbox_oldest_pending_age_seconds") == 0
