"""Choosing and waiting for local TCP ports.

Tests run many servers side by side on one machine that already has other
servers on the well-known ports (PostgreSQL 5432, NATS 4222), so every port is
picked by asking the kernel for a free one.  The kernel's ephemeral range
(32768-60999) contains Haven's own fixed gRPC ports, so those are excluded.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable

# Ports Haven's own processes bind (gateway, gRPC services): never hand them out.
RESERVED_PORTS: frozenset[int] = frozenset({8080, 50051, 50052, 50053, 50054})
LOOPBACK = "127.0.0.1"

_handed_out: set[int] = set()
_lock = threading.Lock()


def free_port(host: str = LOOPBACK) -> int:
    """Return a currently free TCP port on ``host``, never the same twice per process.

    Why the memory: a port is only reserved while we hold it, and callers often
    ask for several ports before starting anything (SeaweedFS needs eight), so
    without it two calls could return the same number.
    """
    with _lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            if port not in RESERVED_PORTS and port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("could not find a free TCP port")


def reserve(ports: Iterable[int]) -> None:
    """Never hand out ``ports`` from :func:`free_port` in this process.

    A stack's fixed ports (its gateway, each service and each replica) are not
    listened on until its processes start, after its servers have picked their
    own ports; SeaweedFS alone asks for eight.  Without this one of those could
    take a replica's port, and the replica would fail to start.
    """
    with _lock:
        _handed_out.update(ports)


def is_reserved(port: int) -> bool:
    """Whether ``port`` is one of Haven's own (RESERVED_PORTS) or was reserved or handed out."""
    with _lock:
        return port in RESERVED_PORTS or port in _handed_out


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True if nothing listens on ``host:port`` and we could bind it now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a TCP connection to ``host:port`` succeeds right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Block until ``host:port`` accepts TCP connections, else raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while not port_accepts(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{host}:{port} did not accept connections within {timeout}s")
        time.sleep(0.05)
