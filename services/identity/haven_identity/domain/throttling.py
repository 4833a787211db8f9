"""How hard we make guessing: growing delays after a few failures, then a lock.

Counted per account, over consecutive failures of anything that proves the
account (password, soft-key code); a success starts the count again. The first
few failures cost nothing, so a person who mistypes is not slowed down; after
that each failure doubles the wait before the next attempt is even checked, up
to a cap, and at `lock_after` failures the account stays locked until an admin
unlocks it. With the defaults (5 free, 15 minutes cap, lock at 100) reaching the
lock takes an attacker about a day, and the lock means they never get more
than 100 guesses (NIST SP 800-63B 5.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass

# 2^30 seconds is decades: any cap a setting can hold is reached before, and the
# exponent stays small however large the count grows.
_MAX_EXPONENT = 30


@dataclass(frozen=True)
class LoginThrottle:
    free_attempts: int = 5
    max_delay_seconds: int = 15 * 60
    lock_after: int = 100

    def delay_after(self, failures: int) -> int:
        """Seconds the next attempt must wait after `failures` consecutive failures."""
        if failures < self.free_attempts:
            return 0
        exponent = min(failures - self.free_attempts, _MAX_EXPONENT)
        return min(self.max_delay_seconds, 2**exponent)

    def locks(self, failures: int) -> bool:
        return failures >= self.lock_after
