"""Waiting for something that happens asynchronously (an event handled, a mail sent).

Tests of an event-driven system cannot assert at once; they poll until the
condition holds or a generous deadline passes, and fail saying what was awaited.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def eventually(
    check: Callable[[], Any], within: float = 20.0, what: str = "condition"
) -> Any:
    """Poll `check` (plain or async) until it returns something truthy; return that."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not met within {within}s")
        await asyncio.sleep(0.1)
