"""Start-up: from launching the stack as `make run` does to /readyz answering 200.

    .venv/bin/python bench/startup.py [--runs 5]

`make run` is `make install` (nothing to do in a warm environment) and then
`.venv/bin/haven dev run`; this runs that same command, `runs` + 1 times,
with its state in a temporary folder (HAVEN_STATE_DIR) and every port a free
one (HAVEN_HTTP_PORT, HAVEN_DEV_*_PORT), so it never meets a `make run` in var/
or another benchmark. HAVEN_POSTGRES_URL is left out, as `make run` has it:
the stack starts its own PostgreSQL. The first start fills an empty folder
(initdb, every migration, S3 buckets) and is printed apart; the `runs` after
it restart on the same folder, as a developer's second `make run` does, and
give the p50 and maximum. Each run is stopped as Ctrl-C stops it (SIGINT to
its process group) and has exited before the next begins.

The clock starts just before the process is launched (Python's start-up and
imports included) and stops when GET /readyz answers 200, which the gateway
does only once every service answers its health check. Beside the total:
when each port first accepted a connection (PostgreSQL, NATS, S3, each
service's gRPC port, the gateway's HTTP port), the CPU time the stack's
processes had used by then (all of them, PostgreSQL's included: a figure that
other work on the machine does not change), and the machine's load average at
the launch (which does change the wall time).

Goal: under 15 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import machine, percentile  # noqa: E402

from haven_devstack.ports import port_accepts  # noqa: E402
from haven_devstack.stack import StackPorts  # noqa: E402

GOAL_SECONDS = 15.0
TIMEOUT = 180.0
ORDER = ("postgres", "nats", "s3", "identity", "incidents", "notifications", "files", "http")


def port_env(ports: StackPorts) -> dict[str, str]:
    env = {}
    for f in fields(StackPorts):
        name = "HAVEN_HTTP_PORT" if f.name == "http" else f"HAVEN_DEV_{f.name.upper()}_PORT"
        env[name] = str(getattr(ports, f.name))
    return env


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU time so far of `root` and every process under it."""
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        # utime, stime, and the waited-for children's cutime, cstime
        spent[pid] = sum(int(v) for v in fields[11:15]) / CLOCK_TICKS
    total = 0.0
    for pid, seconds in spent.items():
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            total += seconds
    return total


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:  # noqa: S310 - our own URL
            return reply.status == 200
    except OSError:
        return False


def one_start(state: Path, log: Path) -> tuple[float, dict[str, float]]:
    """Seconds from launch to /readyz 200, and when each port first accepted.

    opened also holds "cpu": CPU seconds the stack's processes had used by then,
    and "load": the machine's one-minute load average at the launch.
    """
    ports = StackPorts.free()
    env = {**os.environ, "HAVEN_STATE_DIR": str(state), **port_env(ports)}
    env.pop("HAVEN_POSTGRES_URL", None)
    haven = Path(sys.executable).parent / "haven"
    url = f"http://127.0.0.1:{ports.http}/readyz"
    opened: dict[str, float] = {"load": os.getloadavg()[0]}
    with open(log, "ab") as output:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - our own command
            [str(haven), "dev", "run"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            while True:
                now = time.perf_counter() - started
                if process.poll() is not None:
                    tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
                    raise RuntimeError(
                        f"`haven dev run` exited with {process.returncode}; it ended:\n{tail}"
                    )
                if now > TIMEOUT:
                    tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
                    raise RuntimeError(f"not ready after {TIMEOUT:.0f} s; its output ends:\n{tail}")
                for name in ORDER:
                    if name not in opened and port_accepts("127.0.0.1", getattr(ports, name)):
                        opened[name] = now
                if "http" in opened and ready(url):
                    seconds = time.perf_counter() - started
                    opened["cpu"] = tree_cpu_seconds(process.pid)
                    return seconds, opened
                time.sleep(0.05)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)  # as Ctrl-C in its terminal
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def describe(opened: dict[str, float]) -> str:
    ports = ", ".join(f"{name} {opened[name]:.1f}" for name in ORDER if name in opened)
    return f"CPU {opened['cpu']:4.1f} s, load {opened['load']:3.1f}; ports open at s: {ports}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm starts after the first")
    parser.add_argument("--log", type=Path, help="keep the stack's output in this file")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="haven-bench-startup-") as folder:
        state, log = Path(folder) / "var", args.log or Path(folder) / "run.log"
        first, opened = one_start(state, log)
        print(f"first start, empty folder: {first:5.1f} s   ({describe(opened)})")
        times: list[float] = []
        cpu: list[float] = []
        for n in range(1, args.runs + 1):
            seconds, opened = one_start(state, log)
            times.append(seconds)
            label = f"warm start {n}:"
            print(f"{label:27s}{seconds:5.1f} s   ({describe(opened)})")
            cpu.append(opened["cpu"])
    p50, worst = percentile(times, 50), max(times)
    print(f"warm starts (n={len(times)}): p50 {p50:.1f} s, max {worst:.1f} s")
    print(
        f"CPU the stack used to get there: p50 {percentile(cpu, 50):.1f} s, "
        f"max {max(cpu):.1f} s (the machine has {os.cpu_count()} cores)"
    )
    verdict = "met" if worst < GOAL_SECONDS else "NOT met"
    print(f"goal: under {GOAL_SECONDS:.0f} s: {verdict} (max {worst:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
