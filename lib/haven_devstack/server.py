"""Base class for one real server process run from a state directory.

The concrete servers (PostgreSQL, NATS, SeaweedFS) differ only in how they are
prepared, launched and probed; starting, waiting, stopping, crashing and
reporting failures is the same for all of them and lives here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from haven_devstack import pgroups
from haven_devstack.ports import LOOPBACK, port_is_free


class ManagedServer:
    """A server child process with its log in its own directory.

    Subclasses implement :meth:`_argv` and :meth:`_ready` and may override
    :meth:`_prepare` (setup before each launch) and the class attributes below.

    ``die_with_parent`` (default) makes the kernel stop the server when the
    thread that started it exits, so a SIGKILLed pytest or ``make run`` leaves
    nothing behind; pass False when starting from a short-lived thread.
    """

    name = "server"
    stop_signal: int = signal.SIGTERM
    # Sent by the kernel if the process that started us dies (see pgroups).
    death_signal: int = signal.SIGTERM
    start_timeout: float = 60.0
    stop_timeout: float = 30.0

    def __init__(self, state_dir: Path, port: int, *, die_with_parent: bool = True) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.port = int(port)
        self.host = LOOPBACK
        self.die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self.last_start_seconds: float | None = None

    # -- to be provided by subclasses -------------------------------------
    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go (appended across runs)."""
        return self.state_dir / f"{self.name}.log"

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        """True once the server serves requests (not merely once the port is open)."""
        raise NotImplementedError

    def _prepare(self) -> None:
        """Create directories, config and credentials before each launch."""
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def _ports(self) -> list[int]:
        """Every port this server will bind: all must be free before launching."""
        return [self.port]

    def _env(self) -> dict[str, str] | None:
        """Environment for the server; None inherits ours."""
        return None

    def _run_as(self) -> tuple[int, int] | None:
        """(uid, gid) to run the server as; None runs it as ourselves."""
        return None

    def _after_exit(self) -> None:
        """Clean up files a dead server leaves behind (sockets outside its dir)."""

    # -- public API ---------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """PID of the running server, or None."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        """Launch the server and wait until it serves; no-op if already running."""
        if self.running:
            return
        self._reap()  # it may have died on its own: collect it and any leftovers
        began = time.monotonic()
        self._prepare()
        busy = [p for p in self._ports() if not port_is_free(p, self.host)]
        if busy:
            raise RuntimeError(f"{self.name}: port(s) {busy} on {self.host} are already in use")
        with self._open_log() as log:
            run_as = self._run_as()
            self._proc = subprocess.Popen(  # noqa: S603 - argv built from our own paths
                self._argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                env=self._env(),
                start_new_session=True,  # own process group; terminal ^C does not reach it
                user=run_as[0] if run_as else None,
                group=run_as[1] if run_as else None,
                extra_groups=[] if run_as else None,
                preexec_fn=pgroups.parent_death_signal(self.death_signal)
                if self.die_with_parent
                else None,
            )
        self._wait_ready(began)
        self.last_start_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Graceful shutdown; SIGKILL if it takes longer than ``stop_timeout``."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                pass
        self._reap()

    def kill(self) -> None:
        """SIGKILL the server and all its children, like a crash: nothing gets to flush."""
        if self._proc is None:
            return
        self._reap()

    def restart(self) -> None:
        """Graceful stop followed by start (on the same ports and data)."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server log, for error messages."""
        try:
            with self.log_path.open("rb") as fh:
                tail = deque(fh, maxlen=lines)
        except OSError:
            return "(no log)"
        return b"".join(tail).decode("utf-8", "replace")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------
    def _open_log(self) -> IO[bytes]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return self.log_path.open("ab")

    def _wait_ready(self, began: float) -> None:
        assert self._proc is not None
        deadline = began + self.start_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self._reap()
                raise RuntimeError(
                    f"{self.name} exited with code {code} while starting; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if self._ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self._reap()
                raise RuntimeError(
                    f"{self.name} did not become ready within {self.start_timeout}s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _reap(self) -> None:
        """SIGKILL whatever is left of the process group and collect the exit status."""
        proc = self._proc
        if proc is None:
            return
        pgid = proc.pid  # start_new_session made the server its group's leader
        if proc.poll() is None or pgroups.group_members(pgid):
            # Safe: while the leader is unreaped or members remain, the kernel
            # cannot hand this id to an unrelated process group.
            pgroups.kill_tree(pgid)
        proc.wait()
        self._proc = None
        self._after_exit()


def clean_env(drop_prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """Our environment minus variables that would change the child's behaviour."""
    return {k: v for k, v in os.environ.items() if not any(k.startswith(p) for p in drop_prefixes)}
