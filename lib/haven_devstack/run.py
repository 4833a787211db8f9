"""`make run`: the local stack in one terminal, stopped as one with Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.request
from pathlib import Path

from haven_devstack.pgroups import parent_death_signal
from haven_devstack.processes import ProcessSpec, Supervisor
from haven_devstack.stack import Stack, StackPorts, replicas_from_env

BANNER = """
Haven is running: {url}

  Data lives in {state}/ (PostgreSQL, NATS, S3, secrets); mail goes to {state}/mail/.
  Create the first trust, school and admin in another terminal:

    .venv/bin/haven admin bootstrap --trust "Oak Trust" --school "Oak Primary" \\
        --admin-email admin@oak.example --admin-name "Ada Admin"

  then ask for a password-reset email (README, "A first walk through").
  Ctrl-C stops everything.
"""


def _announce_when_ready(stack: Stack, stop: threading.Event) -> None:
    url = f"http://127.0.0.1:{stack.ports.http}/readyz"
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    print(BANNER.format(url=stack.public_url, state=stack.state_dir), flush=True)
                    return
        except OSError:
            pass
        time.sleep(0.5)


def run_stack(state_dir: Path, replicas: dict[str, int] | None = None) -> int:
    """`replicas` (service -> count) defaults to HAVEN_DEV_REPLICAS; unnamed services run once."""
    # If whatever started us (make, a terminal, a process manager) goes away
    # without passing on its signal, stop as if Ctrl-C had been pressed.
    parent_death_signal(signal.SIGINT)()
    stack = Stack(
        state_dir,
        StackPorts.from_env(),
        os.environ.get("HAVEN_POSTGRES_URL"),
        replicas=replicas if replicas is not None else replicas_from_env(),
    )
    several = {s: ports for s, ports in stack.service_ports.items() if len(ports) > 1}
    for service, ports in several.items():
        print(f"{service}: {len(ports)} replicas on ports {', '.join(map(str, ports))}", flush=True)
    print(f"starting PostgreSQL, NATS and S3 under {stack.state_dir}/ ...", flush=True)
    try:
        stack.start_infrastructure()
        specs = [ProcessSpec(name, argv, env) for name, argv, env in stack.processes()]
        stop = threading.Event()
        announcer = threading.Thread(target=_announce_when_ready, args=(stack, stop), daemon=True)
        announcer.start()
        code = Supervisor(specs, grace=25.0).run()
        stop.set()
        return code
    finally:
        stack.stop_infrastructure()
