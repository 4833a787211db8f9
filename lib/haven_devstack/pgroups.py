"""Process-group helpers shared by the servers and the supervisor.

Every child we start gets its own process group, so that one ``killpg`` reaches
the child *and* anything it forked (PostgreSQL backends, for example).  These
helpers are Linux-specific on purpose: the dev stack, CI and the developers'
machines are all Linux, and ``/proc`` is the only dependency-free way to ask
"is anything of this group still alive?".
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def parent_death_signal(sig: int) -> Callable[[], None]:
    """Return a ``preexec_fn`` asking the kernel to send ``sig`` when we die.

    Why: if pytest or ``make run`` is SIGKILLed, no ``finally`` runs; this is
    the only way the servers it started do not outlive it.  Caveat (Linux
    semantics): the signal fires when the *thread* that forked exits, so start
    servers from a long-lived thread (normally the main thread).  Python runs
    ``preexec_fn`` after switching ``user=``/``group=``, which matters because
    a credential change clears this setting.
    """

    def _preexec() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return _preexec


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _state(Path(f"/proc/{pid}/stat")) not in (None, "Z", "X")


def group_members(pgid: int) -> list[int]:
    """PIDs of live (non-zombie) processes whose process group is ``pgid``.

    Orphaned children are re-parented to PID 1, which on some containers never
    reaps them; zombies hold no resources, so they are ignored here.
    """
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry / "stat")
        if fields is None or fields[0] in ("Z", "X"):
            continue
        if int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def descendants(pid: int) -> list[int]:
    """Live children, grandchildren... of ``pid``.

    Needed because some servers move their children to new sessions
    (every PostgreSQL backend calls setsid), out of reach of ``killpg``.
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(entry / "stat")
            if fields is not None and fields[0] not in ("Z", "X"):
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


def kill_tree(pid: int, timeout: float = 10.0) -> None:
    """SIGKILL ``pid``'s process group and all its descendants; wait until all are gone."""
    tree = descendants(pid)
    signal_group(pid, signal.SIGKILL)
    kill_all(tree, timeout)
    if not wait_group_gone(pid, timeout):
        raise RuntimeError(f"processes {group_members(pid)} of group {pid} survived SIGKILL")


def kill_all(pids: list[int], timeout: float = 10.0) -> None:
    """SIGKILL each of ``pids`` that is still alive and wait until none is."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes {[p for p in pids if pid_alive(p)]} survived SIGKILL")
        time.sleep(0.02)


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to a whole process group; a vanished group is not an error."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def wait_group_gone(pgid: int, timeout: float) -> bool:
    """Wait until no live process remains in ``pgid``; return False on timeout."""
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _stat_fields(stat_path: Path) -> list[str] | None:
    """Fields of /proc/PID/stat after the ``(comm)`` field: state, ppid, pgrp, ..."""
    try:
        raw = stat_path.read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def _state(stat_path: Path) -> str | None:
    fields = _stat_fields(stat_path)
    return fields[0] if fields else None
