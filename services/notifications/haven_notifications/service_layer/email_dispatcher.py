"""The background job that delivers queued email.

It sleeps until there is something to do: PostgreSQL NOTIFY on "haven_email"
wakes it the moment a transaction that queued mail commits, and otherwise it
wakes when the earliest retry falls due, or after a slow safety poll (a missed
notification, a listener that reconnected). Each round claims a batch of due
emails, sends them over one SMTP connection and records every try. Any number
of replicas may run it: claims never overlap.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from haven_notifications.adapters.email_queue import NOTIFY_CHANNEL, ClaimedEmail, EmailQueue
from haven_notifications.adapters.smtp import SendResult, SmtpMailer, SmtpSession, compose_message
from haven_notifications.domain.delivery import AttemptOutcome, EmailStatus, RetryPolicy
from haven_runtime.backoff import backoff_delay
from haven_runtime.logging import get_logger

log = get_logger(__name__)

# Even when a retry is due at once, wait this long: due rows we could not
# claim are being sent by another replica right now.
MIN_SLEEP_SECONDS = 0.2


class EmailDispatcher:
    def __init__(
        self,
        queue: EmailQueue,
        mailer: SmtpMailer,
        policy: RetryPolicy,
        *,
        listen_url: str,
        sender: str,
        send_timeout_seconds: float,
        batch_size: int = 10,
        safety_poll_seconds: float = 30.0,
    ):
        self.queue = queue
        self.mailer = mailer
        self.policy = policy
        self.listen_url = listen_url
        self.sender = sender
        self.batch_size = batch_size
        self.safety_poll_seconds = safety_poll_seconds
        # Long enough for a whole batch to time out twice over (connect, then
        # send); a claim older than this belongs to a sender that died.
        self.lease = timedelta(seconds=batch_size * 2 * send_timeout_seconds + 60)
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        failures = 0
        while not stopping.is_set():
            try:
                await self._ensure_listener()
                self._wake.clear()
                claimed = await self.dispatch_due(stopping)
                failures = 0
                if claimed >= self.batch_size:
                    continue  # more may be due; no need to sleep
                await _wait_either(self._wake, stopping, at_most=await self._seconds_until_due())
            except Exception as error:  # noqa: BLE001 - the dispatcher must outlive any outage
                failures += 1
                delay = backoff_delay(failures, cap=10.0)
                log.warning(
                    "email dispatcher retrying",
                    error=str(error) or type(error).__name__,
                    retry_in=round(delay, 2),
                )
                await self._drop_listener()
                await _wait_either(stopping, at_most=delay)
        await self._drop_listener()

    async def dispatch_due(self, stopping: asyncio.Event | None = None) -> int:
        """Claim one batch of due emails and try each; returns how many were claimed."""
        if stopping is not None and stopping.is_set():
            return 0
        claimed = await self.queue.claim_due(
            limit=self.batch_size, lease=self.lease, max_attempts=self.policy.max_attempts
        )
        if not claimed:
            return 0
        async with self.mailer.session() as smtp:
            for index, email in enumerate(claimed):
                if stopping is not None and stopping.is_set():
                    await self.queue.release(claimed[index:])
                    break
                result = await self._try(smtp, email)
                step = self.policy.next_step(email.attempts, result.outcome)
                await self.queue.record_try(email, result.outcome, result.error, step)
                self._log_try(email, result, step.status, step.retry_in_seconds)
        return len(claimed)

    async def _try(self, smtp: SmtpSession, email: ClaimedEmail) -> SendResult:
        try:
            message = compose_message(email, sender=self.sender)
        except (ValueError, TypeError) as error:
            # A message we cannot even write will not improve with time.
            return SendResult(AttemptOutcome.REJECTED, f"cannot compose: {error}"[:500])
        return await smtp.send(message, recipient=email.recipient)

    def _log_try(
        self, email: ClaimedEmail, result: SendResult, status: EmailStatus, retry_in: float
    ) -> None:
        # Never the recipient's message: a reset email carries a live link.
        fields = {"email_id": str(email.id), "kind": email.kind, "attempt": email.attempts}
        if status is EmailStatus.SENT:
            log.info("email sent", **fields)
        elif status is EmailStatus.ABANDONED:
            log.error("email abandoned", outcome=result.outcome.value, error=result.error, **fields)
        else:
            log.warning(
                "email not sent, will retry",
                outcome=result.outcome.value,
                error=result.error,
                retry_in=round(retry_in, 2),
                **fields,
            )

    async def _seconds_until_due(self) -> float:
        due = await self.queue.next_due_at()
        if due is None:
            return self.safety_poll_seconds
        wait = (due - datetime.now(UTC)).total_seconds()
        return min(self.safety_poll_seconds, max(MIN_SLEEP_SECONDS, wait))

    async def _ensure_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        self._listener = await asyncpg.connect(self.listen_url)
        await self._listener.add_listener(NOTIFY_CHANNEL, self._on_notify)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _drop_listener(self) -> None:
        if self._listener is not None:
            try:
                await self._listener.close(timeout=2)
            except Exception:  # noqa: BLE001 - it may already be gone
                self._listener.terminate()
            self._listener = None


async def _wait_either(*events: asyncio.Event, at_most: float | None = None) -> None:
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=at_most, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
