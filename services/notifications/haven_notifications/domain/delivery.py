"""The life of a queued email: queued -> sending -> sent, or back to queued, or abandoned.

Modelled on a mail courier: each try is recorded; a failed try is retried
later with exponential backoff and jitter (so a relay coming back is not hit by
every replica at once), until the configured number of tries, then the email
is abandoned. A try whose outcome is unknown (the connection dropped after the
message was handed over, or the sender died) is retried too, with the same
Message-ID, so a receiving system can recognise the repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from haven_runtime.backoff import backoff_delay


class EmailStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    ABANDONED = "abandoned"


class AttemptOutcome(StrEnum):
    SENT = "sent"
    # The server could not be reached or said "not now" (4xx): nothing was sent.
    FAILED = "failed"
    # The server refused for good (5xx on every recipient): retrying cannot help.
    REJECTED = "rejected"
    # The message may or may not have been accepted.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    cap_seconds: float

    def next_step(self, attempts: int, outcome: AttemptOutcome) -> NextStep:
        """What to do with an email after its `attempts`-th try ended with `outcome`."""
        if outcome is AttemptOutcome.SENT:
            return NextStep(EmailStatus.SENT)
        if outcome is AttemptOutcome.REJECTED or attempts >= self.max_attempts:
            return NextStep(EmailStatus.ABANDONED)
        return NextStep(EmailStatus.QUEUED, retry_in_seconds=self.delay_after(attempts))

    def delay_after(self, attempts: int) -> float:
        # Full jitter spreads replicas and emails apart; the floor keeps a
        # failing relay from being retried at once.
        jittered = backoff_delay(attempts, base=self.base_seconds, cap=self.cap_seconds)
        return max(min(self.base_seconds, self.cap_seconds), jittered)


@dataclass(frozen=True)
class NextStep:
    status: EmailStatus
    retry_in_seconds: float = 0.0
