"""`make run` (that is, `haven dev run`): one command up, Ctrl-C down, data kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import httpx

from haven_devstack.pgroups import descendants, pid_alive
from haven_devstack.stack import StackPorts

HAVEN = str(Path(sys.executable).parent / "haven")


def start_stack(state: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [HAVEN, "dev", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_ready(process: subprocess.Popen[str], url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"haven dev run exited early:\n{process.stdout.read()[-4000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("the stack never became ready")


def bootstrap(env: dict[str, str]) -> dict[str, str]:
    result = subprocess.run(
        [
            HAVEN,
            "admin",
            "bootstrap",
            "--trust",
            "Riverside Trust",
            "--school",
            "Riverside Infants",
            "--admin-email",
            "head@riverside.example",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def interrupt_and_check_nothing_is_left(process: subprocess.Popen[str]) -> str:
    children = descendants(process.pid)
    assert (
        len(children) >= 9
    )  # postgres, nats, seaweedfs, the mail sink, four services, the gateway
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 0, output[-4000:]
    time.sleep(0.5)
    left = [pid for pid in children if pid_alive(pid)]
    assert left == [], f"processes left behind: {left}"
    return output


def test_make_run_starts_everything_stops_everything_on_ctrl_c_and_keeps_the_data(tmp_path: Path):
    ports = StackPorts.free()
    env = {**os.environ, "HAVEN_STATE_DIR": str(tmp_path / "var")}
    env.pop("HAVEN_POSTGRES_URL", None)  # the private server, as on a fresh machine
    for f in fields(ports):
        name = "HAVEN_HTTP_PORT" if f.name == "http" else f"HAVEN_DEV_{f.name.upper()}_PORT"
        env[name] = str(getattr(ports, f.name))
    url = f"http://127.0.0.1:{ports.http}"

    first = start_stack(tmp_path, env)
    try:
        wait_ready(first, url)
        ids = bootstrap(env)
    finally:
        output = interrupt_and_check_nothing_is_left(first) if first.poll() is None else ""
    assert "Haven is running" in output
    assert (tmp_path / "var" / "mail").is_dir()

    second = start_stack(tmp_path, env)
    try:
        wait_ready(second, url)
        assert bootstrap(env) == ids  # same trust, school and admin: the data was kept
    finally:
        if second.poll() is None:
            interrupt_and_check_nothing_is_left(second)
