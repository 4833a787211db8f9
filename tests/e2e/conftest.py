"""The whole stack, as `make run` starts it, on free ports in a temporary folder."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from haven_devstack.stack import Stack, StackPorts


@dataclass
class RunningStack:
    stack: Stack
    base_url: str
    processes: dict[str, subprocess.Popen[bytes]]
    logs: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HAVEN_STATE_DIR": str(self.stack.state_dir)}
        env.pop("HAVEN_DATABASE_URL", None)
        return subprocess.run(
            [str(Path(os.sys.executable).parent / "haven"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )


def _wait_ready(base_url: str, running: RunningStack, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in running.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}:\n{running.log_tail(name)}"
                )
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    tails = "\n".join(f"--- {n}\n{running.log_tail(n, 10)}" for n in running.processes)
    raise RuntimeError(f"the stack did not become ready in {timeout}s\n{tails}")


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    state = tmp_path_factory.mktemp("stack")
    stack = Stack(
        state,
        StackPorts.free(),
        os.environ.get("HAVEN_POSTGRES_URL"),
        database_prefix=f"e2e_{uuid.uuid4().hex[:8]}",
    )
    stack.start_infrastructure()
    logs = state / "logs"
    logs.mkdir()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    running = RunningStack(stack, f"http://127.0.0.1:{stack.ports.http}", processes, logs)
    try:
        for name, argv, env in stack.processes():
            with open(logs / f"{name}.log", "wb") as log:
                processes[name] = subprocess.Popen(
                    argv,
                    env={**os.environ, **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        _wait_ready(running.base_url, running)
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
