"""Exponential backoff with full jitter, for anything that retries a remote peer."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, base: float = 0.2, cap: float = 30.0) -> float:
    """Delay before retry number `attempt` (1-based): random in [0, min(cap, base * 2^attempt)]."""
    return random.uniform(0, min(cap, base * (2 ** max(attempt, 0))))  # noqa: S311 - jitter, not security
