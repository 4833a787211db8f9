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

from haven_notifications.adapters.email_queue import NOTIFY_CHANNEL, ClaimedEmail, EmailQueue
from haven_notifications.adapters.smtp import SendResult, SmtpMailer, SmtpSession, compose_message
from haven_notifications.domain.delivery import AttemptOutcome, EmailStatus, RetryPolicy
from haven_runtime.backoff import backoff_delay
from haven_runtime.logging import get_logger
from haven_runtime.wakeup import PgWakeup, wait_any

log = get_logger(__name__)

# Even when a retry is due at once, wait this long: due rows we could not
# claim are being sent by another replica right now.
MIN_SLEEP_SECONDS = 0.2
# A batch's lease is extended when what is left might not cover one more try and this.
RENEW_MARGIN_SECONDS = 5.0


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
        try_cutoff_seconds: float | None = None,
    ):
        self.queue = queue
        self.mailer = mailer
        self.policy = policy
        self.listen_url = listen_url
        self.sender = sender
        self.batch_size = batch_size
        self.safety_poll_seconds = safety_poll_seconds
        # Long enough for one try to time out twice over (connect, then send);
        # the emails still waiting in a batch are renewed whenever what is left
        # of their lease might not cover one more try, so a claim older than
        # this belongs to a sender that died.
        self.lease = timedelta(seconds=2 * send_timeout_seconds + 30)
        # The whole of one try (connect, greeting, EHLO, TLS, login, MAIL, RCPT,
        # DATA: the send timeout bounds each step, not their sum) is cut off
        # here, so that it ends while the claim is still ours.
        self.one_try = (
            2 * send_timeout_seconds + 5 if try_cutoff_seconds is None else try_cutoff_seconds
        )
        if not 0 < self.one_try <= self.lease.total_seconds() - RENEW_MARGIN_SECONDS:
            raise ValueError(
                "a try must take some time, and be cut off well before the lease on its email ends"
            )
        self._wakeup = PgWakeup(listen_url, NOTIFY_CHANNEL)

    async def run(self, stopping: asyncio.Event) -> None:
        failures = 0
        while not stopping.is_set():
            try:
                await self._wakeup.listen()
                self._wakeup.event.clear()
                claimed = await self.dispatch_due(stopping)
                failures = 0
                if claimed >= self.batch_size:
                    continue  # more may be due; no need to sleep
                await wait_any(
                    self._wakeup.event, stopping, timeout=await self._seconds_until_due()
                )
            except Exception as error:  # noqa: BLE001 - the dispatcher must outlive any outage
                failures += 1
                delay = backoff_delay(failures, cap=10.0)
                log.warning(
                    "email dispatcher retrying",
                    error=str(error) or type(error).__name__,
                    retry_in=round(delay, 2),
                )
                await self._wakeup.close()
                await wait_any(stopping, timeout=delay)
        await self._wakeup.close()

    async def dispatch_due(self, stopping: asyncio.Event | None = None) -> int:
        """Claim one batch of due emails and try each; returns how many were claimed."""
        if stopping is not None and stopping.is_set():
            return 0
        loop = asyncio.get_running_loop()
        leased_until = loop.time() + self.lease.total_seconds()  # the lease counts from before
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
                if leased_until - loop.time() < self.one_try + RENEW_MARGIN_SECONDS:
                    # A slow relay ate into the lease: extend it for the rest of the batch.
                    leased_until = loop.time() + self.lease.total_seconds()
                    await self.queue.renew(claimed[index:], self.lease)
                result = await self._try_within(smtp, email, self.one_try)
                step = self.policy.next_step(email.attempts, result.outcome)
                await self.queue.record_try(email, result.outcome, result.error, step)
                self._log_try(email, result, step.status, step.retry_in_seconds)
        return len(claimed)

    async def _try_within(
        self, smtp: SmtpSession, email: ClaimedEmail, seconds: float
    ) -> SendResult:
        try:
            async with asyncio.timeout(seconds):
                return await self._try(smtp, email)
        except TimeoutError:
            # Cut off mid-conversation: the relay may have taken the message.
            await smtp.abandon()
            return SendResult(
                AttemptOutcome.UNKNOWN, f"the try took over {seconds:.0f} s and was cut off"
            )

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
