"""The login throttling schedule: free attempts, doubling delays up to a cap, then a lock."""

from __future__ import annotations

from haven_identity.domain.throttling import LoginThrottle


def test_the_first_failures_cost_nothing_and_each_one_after_doubles_the_wait():
    throttle = LoginThrottle(free_attempts=5, max_delay_seconds=900, lock_after=100)
    assert [throttle.delay_after(n) for n in range(5)] == [0, 0, 0, 0, 0]
    assert [throttle.delay_after(n) for n in range(5, 11)] == [1, 2, 4, 8, 16, 32]


def test_the_wait_never_exceeds_the_cap_however_many_failures():
    throttle = LoginThrottle(free_attempts=5, max_delay_seconds=900, lock_after=100)
    assert throttle.delay_after(15) == 900
    assert throttle.delay_after(99) == 900
    assert throttle.delay_after(10**9) == 900  # no overflow for absurd counts


def test_the_account_locks_at_the_limit_and_not_before():
    throttle = LoginThrottle(free_attempts=5, max_delay_seconds=900, lock_after=100)
    assert not throttle.locks(99)
    assert throttle.locks(100)
