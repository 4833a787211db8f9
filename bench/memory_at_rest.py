"""Resident memory of each process at rest: the figures deploy/'s requests are sized from.

    .venv/bin/python bench/memory_at_rest.py [--settle 10]

Starts the whole stack on free ports in a temporary folder (as the end-to-end
tests do), lets it settle, and prints each process's resident set size
(VmRSS) beside the memory request in deploy/base/<process>/deployment.yaml.
A request well above the figure leaves room for work; the HPA scales at 85%
of the request, so a figure near that would scale an idle service.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))

from common import machine  # noqa: E402

from haven_devstack.background import background_stack  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ("identity", "incidents", "notifications", "files", "gateway")
UNITS = {"Mi": 1, "Gi": 1024}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(pid)


def memory_request_mib(process: str) -> float:
    deployment = yaml.safe_load((ROOT / "deploy/base" / process / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    value = container["resources"]["requests"]["memory"]
    return float(value[:-2]) * UNITS[value[-2:]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait after ready")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as folder, background_stack(Path(folder)) as stack:
        time.sleep(args.settle)
        print(f"{'process':14s} {'RSS MiB':>8s} {'request MiB':>12s} {'RSS/request':>12s}")
        for name in PROCESSES:
            rss = rss_mib(stack.processes[name].pid)
            request = memory_request_mib(name)
            print(f"{name:14s} {rss:8.0f} {request:12.0f} {rss / request:12.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
