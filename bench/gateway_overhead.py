"""Gateway overhead: authenticated GET /api/v1/me beside a bare uvicorn hello-world.

    .venv/bin/python bench/gateway_overhead.py [--seconds 8] [--rounds 2]

Needs wrk (`apt-get install -y wrk`). Starts the whole stack on free ports in a
temporary folder (`haven_devstack.background_stack`, as the end-to-end tests:
gateway, identity, incidents, notifications and files as their own processes,
PostgreSQL, NATS, the SMTP sink), bootstraps a trust admin and registers them
through the reset email, logs in for a session token, then, with the stack
running and idle otherwise, alternates `rounds` times:

- the bare hello-world of bench/baselines.py (a raw ASGI app under uvicorn,
  one worker, httptools and uvloop as the gateway's uvicorn picks them), and
- `GET /api/v1/me` with `Authorization: Bearer <token>` against the gateway
  (one uvicorn worker, as `make run` and deploy/ run it),

each under the same wrk settings (bench/baselines.py: WRK_THREADS threads,
WRK_CONNECTIONS connections). Prints the req/s of both, the ratio (goal:
/me at least 0.3 of the hello-world) and each process's CPU time during the
/me runs, which shows where the time goes. For scale, once each: the same
hello-world as a FastAPI route with no middleware (what the framework alone
costs), and the gateway's `GET /healthz` (FastAPI and all the gateway's
middleware, but no session and no gRPC hop).

The gateway runs with its own settings, so HAVEN_AUTH_CACHE_SECONDS at its
default where the gateway has that memory of identity's answers; pass
--auth-cache-seconds 0 to measure it asking identity on every request.

With --profile and py-spy installed (`pip install py-spy`; not a dependency
of Haven), one more /me run is sampled in identity and the gateway and the
functions that hold the most samples are printed (inclusive: a function's
share counts the functions it called).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from baselines import hello_world, http_stack, run_wrk, wrk_settings  # noqa: E402
from common import machine  # noqa: E402
from login import EMAIL, PASSWORD, register  # noqa: E402

from haven_devstack.background import background_stack  # noqa: E402

GOAL = 0.3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far, from /proc."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_cpu_seconds(parent: int) -> float:
    """CPU time so far of every child of `parent` (PostgreSQL's backends)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(entry.name)
        except OSError:
            continue
        if int(fields[1]) == parent:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def cpu_now(watched: dict[str, int], postmaster: int | None) -> dict[str, float]:
    now = {name: cpu_seconds(pid) for name, pid in watched.items()}
    if postmaster is not None:
        now["postgres (all backends)"] = children_cpu_seconds(postmaster)
    now["whole machine (wrk and others too)"] = machine_busy_seconds()
    return now


IDLE_LEAVES = ("Condition.wait (", "Queue.get (", "Event.wait (", "select (")


def profile(pids: dict[str, int], url: str, headers: dict[str, str], seconds: float) -> list[str]:
    """Sample each process with py-spy during one more /me run; say where its time goes."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        return ["--profile: py-spy not found (pip install py-spy)"]
    out: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="haven-bench-profile-"))
    # py-spy pauses the process for each sample (not --nonblocking): unpaused
    # samples of a busy event loop come back as torn stacks and lose most of
    # the picture. The pauses slow the profiled run, which is why it is not counted.
    rate = 100
    samplers = {
        name: subprocess.Popen(  # noqa: S603 - py-spy on our own processes
            [
                py_spy,
                "record",
                "-p",
                str(pid),
                "-d",
                str(round(seconds) + 1),
                "-r",
                str(rate),
                "-f",
                "raw",
                "-o",
                str(folder / f"{name}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for name, pid in pids.items()
    }
    time.sleep(0.5)
    out.append(f"profiled run (not counted above): GET /api/v1/me {run_wrk(url, seconds, headers)}")
    for name, sampler in samplers.items():
        sampler.wait()
        path = folder / f"{name}.txt"
        if not path.exists():
            out.append(f"--profile: py-spy could not sample {name}")
            continue
        total, inclusive = 0, Counter[str]()
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue  # a frame name with a line break in it (generated code)
            if stack.rsplit(";", 1)[-1].startswith(IDLE_LEAVES):
                continue  # a thread waiting for work, which py-spy may count as running
            total += int(count)
            frames = {re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")}
            for frame in frames:
                inclusive[frame] += int(count)
        busy = total / (rate * (round(seconds) + 1))
        out.append(f"{name}: {total} samples with Python running (~{busy:.0%} of one core)")
        roots = ("runpy", "asyncio/", "threading.py", "__main__.py", "uvicorn/server")
        shown = 0
        for frame, count in inclusive.most_common():
            if any(root in frame for root in roots) or not frame.strip():
                continue
            out.append(f"  {100 * count / total:5.1f}%  {frame[:110]}")
            shown += 1
            if shown == 25:
                break
    out.append(f"raw profiles (py-spy raw format) in {folder}")
    return out


def session_token(running) -> str:  # type: ignore[no-untyped-def]
    result = running.cli(
        "admin", "bootstrap", "--trust", "Bench Trust", "--school", "Bench School",
        "--admin-email", EMAIL, "--admin-name", "Bench Admin",
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"bootstrap failed: {result.stderr.strip()}")
    json.loads(result.stdout)
    register(running.base_url, running.stack.maildir)
    with httpx.Client(base_url=running.base_url, timeout=30) as client:
        reply = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
        reply.raise_for_status()
        token: str = reply.json()["token"]
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        me.raise_for_status()
    return token


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="hello-world then /me, this often")
    parser.add_argument("--profile", action="store_true", help="sample /me with py-spy")
    parser.add_argument(
        "--auth-cache-seconds", help="HAVEN_AUTH_CACHE_SECONDS for the gateway (default: its own)"
    )
    args = parser.parse_args()
    began = time.monotonic()
    hellos, mes, cpu = [], [], {}
    extra_env = {}
    if args.auth_cache_seconds is not None:
        extra_env["HAVEN_AUTH_CACHE_SECONDS"] = args.auth_cache_seconds
    with (
        tempfile.TemporaryDirectory(prefix="haven-bench-gateway-") as state,
        background_stack(Path(state), extra_env=extra_env) as running,
    ):
        token = session_token(running)
        url = f"{running.base_url}/api/v1/me"
        headers = {"Authorization": f"Bearer {token}"}
        run_wrk(url, 2, headers)  # warm up
        watched = {name: p.pid for name, p in running.processes.items() if name != "mail"}
        postgres = running.stack.postgres
        postmaster = postgres.pid if postgres is not None else None
        for _ in range(args.rounds):
            hellos.append(hello_world(args.seconds))
            before = cpu_now(watched, postmaster)
            started = time.monotonic()
            mes.append(run_wrk(url, args.seconds, headers))
            wall = time.monotonic() - started
            after = cpu_now(watched, postmaster)
            for name, value in after.items():
                cpu[name] = cpu.get(name, 0.0) + (value - before[name]) / wall
        healthz = run_wrk(f"{running.base_url}/healthz", args.seconds)
        framework = hello_world(args.seconds, kind="fastapi")
        profiled: list[str] = []
        if args.profile:
            pids = {name: watched[name] for name in ("identity", "gateway")}
            profiled = profile(pids, url, headers, args.seconds)
    cpu = {name: share / args.rounds for name, share in cpu.items()}

    print(f"machine: {machine()}")
    print(f"HTTP: {http_stack()}; load: {wrk_settings()}, {args.seconds:.0f} s a run")
    print(f"{args.rounds} rounds; {time.monotonic() - began:.0f} s in all")
    for n, (hello, me) in enumerate(zip(hellos, mes, strict=True), 1):
        print(f"round {n}: bare hello-world {hello}")
        print(f"         GET /api/v1/me     {me}   latency {me.latency}")
    cache = os.environ.get("HAVEN_AUTH_CACHE_SECONDS", "the gateway's default")
    print(f"gateway's HAVEN_AUTH_CACHE_SECONDS: {args.auth_cache_seconds or cache}")
    print(f"once:    FastAPI hello-world     {framework}   latency {framework.latency}")
    print(f"once:    GET /healthz (gateway)  {healthz}   latency {healthz.latency}")
    hello_rate = sum(h.requests_per_second for h in hellos) / len(hellos)
    me_rate = sum(m.requests_per_second for m in mes) / len(mes)
    ratio = me_rate / hello_rate
    print(f"mean: bare hello-world {hello_rate:,.0f} req/s; GET /api/v1/me {me_rate:,.0f} req/s")
    print(f"ratio /me : hello-world = {ratio:.3f}  (1 : {1 / ratio:.0f})")
    print(
        f"ratio FastAPI hello-world : hello-world = "
        f"{framework.requests_per_second / hello_rate:.3f} (the framework alone)"
    )
    print(
        f"ratio /healthz : hello-world = {healthz.requests_per_second / hello_rate:.3f} "
        "(the gateway with no session and no hop)"
    )
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(f"goal: at least {GOAL} of the hello-world: {verdict}")
    print("CPU used during the /me runs (cores busy; the machine has 2):")
    for name, share in sorted(cpu.items(), key=lambda item: -item[1]):
        print(f"  {name:28s} {share:5.2f}")
    for line in profiled:
        print(line)
    if any(m.non_2xx for m in mes):
        print("WARNING: some /me answers were not 2xx; the figure is not valid")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
