"""The whole stack, as `make run` starts it, on free ports in a temporary folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from haven_devstack.background import BackgroundStack, background_stack

# The name the tests use for the running stack.
RunningStack = BackgroundStack


@pytest.fixture(scope="session")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundStack]:
    with background_stack(
        tmp_path_factory.mktemp("stack"),
        postgres_url=os.environ.get("HAVEN_POSTGRES_URL"),
        database_prefix=f"e2e_{uuid.uuid4().hex[:8]}",
    ) as running:
        yield running
