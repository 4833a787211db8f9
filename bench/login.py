"""Login latency through the whole stack, beside the password hash's own time.

    .venv/bin/python bench/login.py [--logins 200]

Starts the stack on free ports in a temporary folder (as the end-to-end tests
do), registers one member of staff through the reset email, then logs in
sequentially over HTTP. In the same run it times Argon2id verification alone,
in this process, with identity's own parameters, and prints the ratio: how
much of a login is the deliberate cost of the hash. Compare ratios, not
absolute times: this machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from common import describe_ms, machine, percentile  # noqa: E402

from haven_devstack.background import background_stack  # noqa: E402
from haven_devstack.smtp_sink import read_messages  # noqa: E402
from haven_identity.adapters.password_hasher import PARAMETERS, PasswordHasher  # noqa: E402

PASSWORD = "correct horse battery staple lighthouse"  # noqa: S105 - a test account's
EMAIL = "bench.admin@bench.example"


def register(base_url: str, maildir: Path) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        client.post("/api/v1/auth/password-reset", json={"email": EMAIL}).raise_for_status()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for message in read_messages(maildir):
                if EMAIL in str(message["To"]):
                    text = message.get_body(preferencelist=("plain",)).get_content()
                    token = re.search(r"token=([A-Za-z0-9_\-]+)", text).group(1)  # type: ignore[union-attr]
                    reply = client.post(
                        "/api/v1/auth/password-reset/confirm",
                        json={"token": token, "password": PASSWORD},
                    )
                    reply.raise_for_status()
                    return
            time.sleep(0.2)
    raise RuntimeError("the reset email never arrived")


def time_logins(base_url: str, count: int) -> list[float]:
    samples = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for i in range(count + 5):
            started = time.perf_counter()
            reply = client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD})
            elapsed = time.perf_counter() - started
            reply.raise_for_status()
            if i >= 5:  # warm-up
                samples.append(elapsed)
    return samples


def time_hash_verifications(count: int) -> list[float]:
    async def run() -> list[float]:
        hasher = PasswordHasher()
        stored = await hasher.hash(PASSWORD)
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            assert await hasher.verify(stored, PASSWORD)
            samples.append(time.perf_counter() - started)
        return samples

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=200)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="haven-bench-") as state,
        background_stack(Path(state)) as running,
    ):
        result = running.cli(
            "admin",
            "bootstrap",
            "--trust",
            "Bench Trust",
            "--school",
            "Bench School",
            "--admin-email",
            EMAIL,
            "--admin-name",
            "Bench Admin",
        )
        if result.returncode != 0:
            raise SystemExit(f"bootstrap failed: {result.stderr.strip()}")
        json.loads(result.stdout)
        register(running.base_url, running.stack.maildir)
        logins = time_logins(running.base_url, args.logins)
        hashes = time_hash_verifications(max(20, args.logins // 4))

    print(f"machine: {machine()}")
    print(
        f"argon2id parameters: m={PARAMETERS.memory_cost} KiB, t={PARAMETERS.time_cost}, "
        f"p={PARAMETERS.parallelism}"
    )
    print(f"login over HTTP (gateway -> identity), sequential: {describe_ms(logins)}")
    print(f"argon2id verify alone, in process:           {describe_ms(hashes)}")
    ratio = percentile(hashes, 50) / percentile(logins, 50)
    print(f"hash share of a login (p50 / p50): {ratio:.2f}")
    rest_ms = (percentile(logins, 50) - percentile(hashes, 50)) * 1000
    print(f"everything else in a login (p50): {rest_ms:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
