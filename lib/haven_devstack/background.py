"""The whole stack started in the background, for end-to-end tests and benchmarks.

Like `make run`, but on the ports and in the folder given, with each process's
output in its own log file, and stopped (services first, then the servers)
when the context ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from haven_devstack.stack import Stack, StackPorts


@dataclass
class BackgroundStack:
    stack: Stack
    base_url: str
    processes: dict[str, subprocess.Popen[bytes]]
    logs: Path
    # How each process was started (argv, environment), to start it again.
    specs: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)

    def start(self, name: str) -> None:
        """Start one process (a service replica, the gateway or the mail sink) as at first."""
        argv, env = self.specs[name]
        with open(self.logs / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(  # noqa: S603 - our own processes
                argv,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def kill(self, name: str) -> None:
        """SIGKILL one process and its group, as a crash or an OOM kill would end it."""
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `haven …` against this stack, as an operator would in another terminal."""
        env = {**os.environ, "HAVEN_STATE_DIR": str(self.stack.state_dir)}
        env.pop("HAVEN_DATABASE_URL", None)
        return subprocess.run(  # noqa: S603 - our own command
            [str(Path(sys.executable).parent / "haven"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with {process.returncode}:\n{self.log_tail(name)}"
                    )
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=1) as reply:  # noqa: S310
                    # The gateway is ready once one replica of each service answers;
                    # wait for the others to listen too, so every one takes calls.
                    if reply.status == 200 and self._every_replica_listens():
                        return
            except OSError:
                pass
            time.sleep(0.3)
        tails = "\n".join(f"--- {n}\n{self.log_tail(n, 10)}" for n in self.processes)
        raise RuntimeError(f"the stack did not become ready in {timeout}s\n{tails}")

    def _every_replica_listens(self) -> bool:
        for ports in self.stack.service_ports.values():
            for port in ports:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except OSError:
                    return False
        return True


@contextmanager
def background_stack(
    state_dir: Path,
    ports: StackPorts | None = None,
    postgres_url: str | None = None,
    database_prefix: str = "haven",
    extra_env: dict[str, str] | None = None,
    replicas: dict[str, int] | None = None,
) -> Iterator[BackgroundStack]:
    """`replicas` (service -> count, e.g. {"files": 2}) runs several processes of a
    service, named "files-1", "files-2", ... in `processes` and logs/."""
    stack = Stack(
        state_dir,
        ports or StackPorts.free(),
        postgres_url,
        database_prefix,
        replicas=replicas,
        free_replica_ports=ports is None,
    )
    stack.start_infrastructure()
    logs = stack.state_dir / "logs"
    logs.mkdir(exist_ok=True)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    running = BackgroundStack(stack, f"http://127.0.0.1:{stack.ports.http}", processes, logs)
    try:
        for name, argv, env in stack.processes():
            running.specs[name] = (argv, {**os.environ, **env, **(extra_env or {})})
            running.start(name)
        running.wait_ready()
        yield running
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
