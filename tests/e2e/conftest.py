"""The whole stack, as `make run` starts it, on free ports in a temporary folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from haven_devstack.background import BackgroundStack, background_stack

# The name the tests use for the running stack.
RunningStack = BackgroundStack

# The lock after 100 consecutive failures cannot be reached in a test with the
# real delays (hours): here it comes after six failures, at most a second apart.
# Only test_security fails logins on purpose.
FAST_LOCKOUT = {
    "HAVEN_LOGIN_FREE_ATTEMPTS": "3",
    "HAVEN_LOGIN_MAX_DELAY_SECONDS": "1",
    "HAVEN_LOGIN_LOCK_AFTER": "6",
    # Every test's requests come from 127.0.0.1, and the modules together
    # register far more staff than one school's address would in an hour.
    # The per-email limits, which the tests check, stay as they are.
    "HAVEN_RESET_LIMIT_PER_ADDRESS": "100000",
    "HAVEN_LOGIN_LIMIT_PER_ADDRESS": "100000",
}


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundStack]:
    with background_stack(
        tmp_path_factory.mktemp("stack"),
        postgres_url=os.environ.get("HAVEN_POSTGRES_URL"),
        database_prefix=f"e2e_{uuid.uuid4().hex[:8]}",
        extra_env=FAST_LOCKOUT,
    ) as running:
        yield running
