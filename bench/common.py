"""What every benchmark prints: the machine it ran on, and percentiles."""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({model}){memory}, "
        f"Python {platform.python_version()}"
    )


def percentile(samples: list[float], p: float) -> float:
    """The p-th percentile (0-100) by the inclusive method; samples need not be sorted."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[round(p) - 1]


def describe_ms(samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return (
        f"p50 {percentile(ms, 50):7.1f} ms   p95 {percentile(ms, 95):7.1f} ms   "
        f"p99 {percentile(ms, 99):7.1f} ms   (n={len(ms)})"
    )


CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def cpu_seconds_by_command(commands: tuple[str, ...]) -> dict[tuple[str, int], float]:
    """CPU time used so far by every process on the machine whose name is one of
    `commands` (say every PostgreSQL backend), by (name, pid). It includes
    processes that other work on the machine started: measure on a quiet one."""
    found: dict[tuple[str, int], float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if name in commands:
            found[(name, int(entry.name))] = cpu_seconds(int(entry.name))
    return found


def cpu_used_by_command(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]
) -> dict[str, float]:
    """CPU time used between two `cpu_seconds_by_command` readings, summed per name
    (a process started in between counts from zero; one that ended is not seen)."""
    used: dict[str, float] = {}
    for (name, pid), seconds in after.items():
        used[name] = used.get(name, 0.0) + seconds - before.get((name, pid), 0.0)
    return used
