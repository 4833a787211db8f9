"""The retry policy of the email courier."""

from __future__ import annotations

import pytest

from haven_notifications.domain.delivery import AttemptOutcome, EmailStatus, RetryPolicy

POLICY = RetryPolicy(max_attempts=5, base_seconds=2.0, cap_seconds=60.0)


def test_a_sent_email_is_done() -> None:
    assert POLICY.next_step(1, AttemptOutcome.SENT).status is EmailStatus.SENT


@pytest.mark.parametrize("outcome", [AttemptOutcome.FAILED, AttemptOutcome.UNKNOWN])
def test_a_failed_try_is_retried_later_within_the_cap(outcome: AttemptOutcome) -> None:
    for attempt in range(1, 5):
        step = POLICY.next_step(attempt, outcome)
        assert step.status is EmailStatus.QUEUED
        assert 2.0 <= step.retry_in_seconds <= min(60.0, 2.0 * 2**attempt)


def test_the_delay_grows_with_each_try() -> None:
    # Full jitter: compare the largest of many draws, not single draws.
    early = max(POLICY.delay_after(1) for _ in range(300))
    late = max(POLICY.delay_after(4) for _ in range(300))
    assert early <= 4.0 < late <= 32.0


def test_an_email_is_abandoned_after_the_last_allowed_try() -> None:
    assert POLICY.next_step(5, AttemptOutcome.FAILED).status is EmailStatus.ABANDONED
    assert POLICY.next_step(5, AttemptOutcome.UNKNOWN).status is EmailStatus.ABANDONED


def test_a_permanent_refusal_is_not_retried() -> None:
    assert POLICY.next_step(1, AttemptOutcome.REJECTED).status is EmailStatus.ABANDONED
