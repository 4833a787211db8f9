"""A tiny supervisor for ``make run``: several named processes, one terminal.

Each child runs in its own process group (so stopping it also stops anything
it forked, and a terminal ^C reaches only us), its output lines are prefixed
with its name, and the children share one fate: on SIGINT/SIGTERM, or as soon
as any child exits on its own, all are stopped (SIGTERM, then SIGKILL after a
grace period).  A child that exits by itself makes :meth:`Supervisor.run`
return non-zero, so ``make run`` fails loudly instead of half-running.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from haven_devstack import pgroups


@dataclass(frozen=True)
class ProcessSpec:
    """One child: ``env`` entries are added to (and override) our environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None


@dataclass
class _Child:
    spec: ProcessSpec
    proc: subprocess.Popen[bytes]
    pending: bytes = b""


class Supervisor:
    """Start, watch, and stop a set of processes together."""

    def __init__(
        self, specs: Sequence[ProcessSpec], *, grace: float = 10.0, out: IO[str] | None = None
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate process names: {names}")
        self.specs = list(specs)
        self.grace = grace
        self.out = out if out is not None else sys.stdout
        self.children: list[_Child] = []
        self._width = max((len(n) for n in names), default=0)
        self._stop_signal: int | None = None
        self._selector = selectors.DefaultSelector()

    def run(self) -> int:
        """Run until a signal (returns 0) or until a child exits (returns 1)."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            try:
                for spec in self.specs:
                    self._spawn(spec)
            except OSError as exc:
                self._say("supervisor", f"could not start: {exc}")
                return 1
            return self._watch()
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stop_signal = signum

    def _spawn(self, spec: ProcessSpec) -> None:
        proc = subprocess.Popen(  # noqa: S603 - argv comes from our own Makefile/scripts
            list(spec.argv),
            env={**os.environ, **spec.env},
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
            # If we are SIGKILLed, the kernel still stops the children.
            preexec_fn=pgroups.parent_death_signal(signal.SIGTERM),
        )
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        child = _Child(spec, proc)
        self._selector.register(proc.stdout, selectors.EVENT_READ, child)
        self.children.append(child)
        self._say("supervisor", f"started {spec.name} (pid {proc.pid})")

    def _watch(self) -> int:
        while True:
            self._pump(0.2)
            if self._stop_signal is not None:
                self._say("supervisor", f"got {signal.Signals(self._stop_signal).name}, stopping")
                return 0
            for child in self.children:
                code = child.proc.poll()
                if code is not None:
                    self._say("supervisor", f"{child.spec.name} exited with {code}; stopping all")
                    return 1

    def _shutdown(self) -> None:
        # Remember descendants now: once a leader exits they are re-parented
        # and, if they moved to another session, killpg no longer reaches them.
        tree = [
            pid for c in self.children if self._alive(c) for pid in pgroups.descendants(c.proc.pid)
        ]
        for child in self.children:
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(self._alive(c) for c in self.children):
            self._pump(0.1)
        for child in self.children:
            if self._alive(child):
                self._say("supervisor", f"{child.spec.name} ignored SIGTERM; killing")
            self._signal(child, signal.SIGKILL)
            child.proc.wait()
            pgroups.wait_group_gone(child.proc.pid, 5.0)
        pgroups.kill_all([pid for pid in tree if pgroups.pid_alive(pid)])
        self._pump(0)
        for child in self.children:
            self._flush(child)
            assert child.proc.stdout is not None
            child.proc.stdout.close()
        self._selector.close()
        self.children.clear()

    def _signal(self, child: _Child, sig: int) -> None:
        # Only while the group exists (unreaped leader or live members) is its
        # id guaranteed to still be ours rather than a recycled one.
        if self._alive(child):
            pgroups.signal_group(child.proc.pid, sig)

    @staticmethod
    def _alive(child: _Child) -> bool:
        return child.proc.poll() is None or bool(pgroups.group_members(child.proc.pid))

    def _pump(self, timeout: float) -> None:
        """Copy whatever output is available, line by line, with name prefixes."""
        for key, _ in self._selector.select(timeout):
            child: _Child = key.data
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                self._selector.unregister(key.fileobj)
                self._flush(child)
                continue
            *lines, child.pending = (child.pending + chunk).split(b"\n")
            for line in lines:
                self._say(child.spec.name, line.decode("utf-8", "replace"))

    def _flush(self, child: _Child) -> None:
        if child.pending:
            self._say(child.spec.name, child.pending.decode("utf-8", "replace"))
            child.pending = b""

    def _say(self, name: str, text: str) -> None:
        self.out.write(f"{name.ljust(self._width)} | {text.rstrip()}\n")
        self.out.flush()


def run_all(specs: Sequence[ProcessSpec], *, grace: float = 10.0) -> int:
    """Convenience wrapper: supervise ``specs`` and return the exit code."""
    return Supervisor(specs, grace=grace).run()
