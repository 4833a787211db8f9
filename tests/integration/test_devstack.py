"""The dev stack starts real servers that keep data across stops and crashes.

Each test starts one server in ``tmp_path`` on free ports, talks to it with the
client Haven itself uses, crashes it with SIGKILL, starts it again and checks
nothing acknowledged was lost, then stops it and checks no process is left.
"""

from __future__ import annotations

import io
import os
import signal
import smtplib
import stat
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import nats
import pytest
from minio import Minio
from minio.error import S3Error

from haven_devstack import (
    LocalNats,
    LocalPostgres,
    LocalS3,
    MailSink,
    ProcessSpec,
    Supervisor,
    ensure_database,
    ensure_database_sync,
    free_port,
    read_messages,
    wait_for_port,
)
from haven_devstack.pgroups import descendants, group_members, pid_alive
from haven_devstack.ports import RESERVED_PORTS

LIB = Path(__file__).resolve().parents[2] / "lib"


def assert_gone(pid: int) -> None:
    """The server and everything in its process group have exited."""
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert group_members(pid) == []


def report(name: str, seconds: float | None) -> None:
    print(f"\n[devstack timing] {name}: {seconds:.2f}s")


def test_free_ports_are_distinct_and_not_haven_ports() -> None:
    ports = {free_port() for _ in range(50)}
    assert len(ports) == 50
    assert not ports & RESERVED_PORTS
    with pytest.raises(TimeoutError):
        wait_for_port("127.0.0.1", free_port(), timeout=0.3)


async def test_postgres_keeps_committed_rows_across_kill_and_restart(tmp_path: Path) -> None:
    pg = LocalPostgres(tmp_path / "pg", free_port())
    with pg:
        report("postgres first start (initdb + start)", pg.last_start_seconds)
        assert pg.url == f"postgresql://postgres@127.0.0.1:{pg.port}"
        db_url = await ensure_database(pg.url, "haven_test")
        assert await ensure_database(pg.url, "haven_test") == db_url  # idempotent
        assert ensure_database_sync(pg.url, "haven_other").endswith("/haven_other")
        conn = await asyncpg.connect(db_url)
        await conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        await conn.execute("INSERT INTO notes VALUES (1, 'Ünïcode kept')")
        await conn.close()

        first_pid = pg.pid
        assert first_pid is not None
        backends = descendants(first_pid)  # each in its own session (setsid)
        assert backends
        pg.kill()
        assert_gone(first_pid)
        assert not [pid for pid in backends if pid_alive(pid)]
        pg.start()
        report("postgres start after SIGKILL (crash recovery)", pg.last_start_seconds)
        conn = await asyncpg.connect(db_url)
        assert await conn.fetchval("SELECT body FROM notes WHERE id = 1") == "Ünïcode kept"
        await conn.close()
        pg.start()  # already running: no-op
        second_pid = pg.pid
    assert second_pid is not None
    assert_gone(second_pid)
    # No unix socket: TCP on 127.0.0.1 only.
    assert not list((tmp_path / "pg").glob(".s.PGSQL.*"))

    pg.start()  # existing data dir: no initdb
    report("postgres start on existing data", pg.last_start_seconds)
    conn = await asyncpg.connect(db_url)
    assert await conn.fetchval("SELECT count(*) FROM notes") == 1
    await conn.close()
    pid = pg.pid
    pg.stop()
    assert pid is not None
    assert_gone(pid)


async def test_nats_jetstream_keeps_messages_across_kill_and_restart(tmp_path: Path) -> None:
    server = LocalNats(tmp_path / "nats", free_port())
    with server:
        report("nats start", server.last_start_seconds)
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="EVENTS", subjects=["events.>"])
        ack = await js.publish("events.case", b"case opened")
        await nc.close()

        first_pid = server.pid
        assert first_pid is not None
        server.kill()
        assert_gone(first_pid)
        server.start()
        report("nats start after SIGKILL", server.last_start_seconds)

        nc = await nats.connect(server.url)
        js = nc.jetstream()
        info = await js.stream_info("EVENTS")
        assert info.state.messages == 1
        msg = await js.get_msg("EVENTS", ack.seq)
        assert msg.data == b"case opened"
        await nc.close()

        server.restart()
        nc = await nats.connect(server.url)
        assert (await nc.jetstream().stream_info("EVENTS")).state.messages == 1
        await nc.close()
        last_pid = server.pid
    assert last_pid is not None
    assert_gone(last_pid)
    assert (tmp_path / "nats" / "nats.log").stat().st_size > 0


def test_s3_requires_credentials_and_keeps_objects_across_kill(tmp_path: Path) -> None:
    s3 = LocalS3(tmp_path / "s3", free_port())
    with s3:
        report("seaweedfs first start", s3.last_start_seconds)
        creds = tmp_path / "s3" / "credentials.json"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "s3" / "s3-config.json").stat().st_mode) == 0o600
        # Nothing listens on the ports weed would pick by default.
        assert not set(s3.internal_ports.values()) & {8080, 8333, 8888, 9333, 18080, 18888, 19333}

        client = Minio(s3.endpoint, s3.access_key, s3.secret_key, secure=False)
        client.make_bucket("evidence")
        client.put_object("evidence", "case-1/note.txt", io.BytesIO(b"statement"), 9)
        assert client.get_object("evidence", "case-1/note.txt").read() == b"statement"

        intruder = Minio(s3.endpoint, s3.access_key, "wrong-secret", secure=False)
        with pytest.raises(S3Error):
            intruder.get_object("evidence", "case-1/note.txt").read()
        anonymous = Minio(s3.endpoint, secure=False)
        with pytest.raises(S3Error):
            anonymous.list_buckets()

        keys = (s3.access_key, s3.secret_key)
        first_pid = s3.pid
        assert first_pid is not None
        s3.kill()
        assert_gone(first_pid)
        s3.start()
        report("seaweedfs start after SIGKILL", s3.last_start_seconds)
        assert (s3.access_key, s3.secret_key) == keys
        assert client.get_object("evidence", "case-1/note.txt").read() == b"statement"
        client.put_object("evidence", "case-1/second.txt", io.BytesIO(b"more"), 4)
        grpc_ports = [s3.internal_ports[k] for k in s3.internal_ports if k.endswith("grpc")]
        last_pid = s3.pid
        began = time.monotonic()
    report("seaweedfs stop", time.monotonic() - began)
    assert last_pid is not None
    assert_gone(last_pid)
    assert not [p for p in grpc_ports if list(Path("/tmp").glob(f"seaweedfs-*-grpc-{p}.sock"))]

    # A fresh object over a fresh handle after a graceful stop, same credentials file.
    again = LocalS3(tmp_path / "s3", s3.port)
    with again:
        assert again.access_key == keys[0]
        client = Minio(again.endpoint, again.access_key, again.secret_key, secure=False)
        assert client.get_object("evidence", "case-1/second.txt").read() == b"more"


def _send(port: int) -> None:
    msg = EmailMessage()
    msg["From"] = "alerts@haven.test"
    msg["To"] = "dsl@school.test"
    msg["Subject"] = "Concern raised – Year 7"
    msg.set_content("A new concern needs your attention.")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.login("haven", "anything")
        smtp.send_message(msg, to_addrs=["dsl@school.test", "deputy@school.test"])


def test_mail_sink_writes_one_eml_per_message(tmp_path: Path) -> None:
    maildir = tmp_path / "mail"
    with MailSink(maildir, port=free_port()) as sink:
        _send(sink.port)
        _send(sink.port)
    messages = read_messages(maildir)
    assert len(messages) == 2
    assert messages[0]["Subject"] == "Concern raised – Year 7"
    assert "deputy@school.test" in messages[0]["X-Envelope-To"]  # Bcc-style recipient kept
    assert messages[0].get_content().strip() == "A new concern needs your attention."
    assert not [p for p in maildir.iterdir() if not p.name.endswith(".eml")]


def test_mail_sink_runs_as_its_own_process(tmp_path: Path) -> None:
    port = free_port()
    path = os.pathsep.join(p for p in (str(LIB), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    argv = [sys.executable, "-m", "haven_devstack.smtp_sink", "--maildir", str(tmp_path / "m")]
    proc = subprocess.Popen([*argv, "--port", str(port)], env=env)
    try:
        wait_for_port("127.0.0.1", port, timeout=20)
        _send(port)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert len(read_messages(tmp_path / "m")) == 1


PY = sys.executable


def test_supervisor_stops_everything_when_one_child_exits() -> None:
    out = io.StringIO()
    specs = [
        # Grandchildren that would outlive a naive kill of their parent; one
        # even leaves the process group (as PostgreSQL backends do).
        ProcessSpec("api", [PY, "-c", "import subprocess,time; "
                            "subprocess.Popen(['sleep','300']); "
                            "e = subprocess.Popen(['sleep','300'], start_new_session=True); "
                            "print('up', e.pid, flush=True); time.sleep(300)"]),
        ProcessSpec("stubborn", [PY, "-c", "import signal,time; "
                                 "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print('ready', flush=True); time.sleep(300)"]),
        ProcessSpec("worker", [PY, "-c", "import os,time; time.sleep(1.5); "
                               "print(os.environ['GREETING']); raise SystemExit(3)"],
                    env={"GREETING": "hello from worker"}),
    ]  # fmt: skip
    sup = Supervisor(specs, grace=1.0, out=out)
    began = time.monotonic()
    assert sup.run() == 1
    assert time.monotonic() - began < 15
    text = out.getvalue()
    escaper = int(text.split("api      | up ")[1].split()[0])
    assert not pid_alive(escaper)
    assert "worker   | hello from worker" in text
    assert "worker exited with 3" in text
    assert "stubborn ignored SIGTERM; killing" in text
    pids = [int(line.split("pid ")[1].rstrip(")")) for line in text.splitlines() if "(pid " in line]
    assert len(pids) == 3
    for pid in pids:
        assert_gone(pid)


def test_supervisor_stops_children_on_sigterm() -> None:
    out = io.StringIO()
    specs = [ProcessSpec("svc", [PY, "-c", "import time; print('serving', flush=True); "
                                 "time.sleep(300)"])]  # fmt: skip
    sup = Supervisor(specs, grace=5.0, out=out)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        assert sup.run() == 0
    finally:
        timer.cancel()
    assert "svc | serving" in out.getvalue()
    assert "got SIGTERM, stopping" in out.getvalue()
    pid = int(out.getvalue().split("pid ")[1].split(")")[0])
    assert_gone(pid)


def test_a_stack_keeps_its_own_ports_from_the_servers_and_refuses_taken_ones(
    tmp_path: Path,
) -> None:
    """Replica ports are fixed (the service's port + 100 per replica) but nobody listens on
    them until the services start: ports handed to servers meanwhile (SeaweedFS picks
    eight) must avoid them, and a port already taken is named before anything starts."""
    import json
    import socket

    from haven_devstack.ports import is_reserved
    from haven_devstack.seaweed import _INTERNAL
    from haven_devstack.stack import Stack, StackPorts

    ports = StackPorts.free()
    stack = Stack(tmp_path / "var", ports, replicas={"files": 2})
    replica_port = stack.service_ports["files"][1]
    assert replica_port == ports.files + 100
    # free_port() asks the kernel, which cannot be steered onto a given port: check what
    # it consults instead.
    assert all(is_reserved(port) for port in stack.own_ports().values())
    # Nor may SeaweedFS reuse such a port that an earlier run saved for it.
    s3_dir = tmp_path / "s3"
    s3_dir.mkdir()
    saved = {name: free_port() for name in _INTERNAL}
    saved[next(iter(saved))] = replica_port
    (s3_dir / "ports.json").write_text(json.dumps(saved))
    chosen = LocalS3(s3_dir, free_port())._choose_ports()
    assert replica_port not in chosen.values()

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", replica_port))
        taken.listen()
        with pytest.raises(RuntimeError, match=rf"port\(s\) {replica_port} \(files-2\) already"):
            stack.start_infrastructure()
    assert not (tmp_path / "var").exists()  # nothing started, nothing written
