"""Handing email to the school's SMTP relay (or the local sink), with aiosmtplib.

A dispatch round opens one connection lazily and sends its emails over it. Each
send reports an outcome the retry policy understands: whether the message
certainly did not go (FAILED), was refused for good (REJECTED), or might have
gone (UNKNOWN, when the connection broke while the server had the message).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from types import TracebackType

import aiosmtplib

from haven_notifications.adapters.email_queue import ClaimedEmail
from haven_notifications.domain.delivery import AttemptOutcome
from haven_notifications.settings import NotificationsSettings
from haven_runtime.logging import get_logger

log = get_logger(__name__)


def compose_message(email: ClaimedEmail, *, sender: str) -> EmailMessage:
    """An RFC 5322 message: plain text, with an HTML alternative."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.recipient
    message["Subject"] = email.subject
    # The time it was queued: the same on every retry, like the Message-ID.
    message["Date"] = format_datetime(email.created_at)
    message["Message-ID"] = email.message_id
    # RFC 3834: automatic mail, so out-of-office replies stay away.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(email.text_body)
    message.add_alternative(email.html_body or _html_from_text(email.text_body), subtype="html")
    return message


@dataclass(frozen=True)
class SendResult:
    outcome: AttemptOutcome
    error: str | None = None


class SmtpMailer:
    def __init__(self, settings: NotificationsSettings):
        self.settings = settings

    def session(self) -> SmtpSession:
        return SmtpSession(self.settings)


class SmtpSession:
    """One connection, opened on the first send and closed at the end of the round."""

    def __init__(self, settings: NotificationsSettings):
        self.settings = settings
        self._smtp: aiosmtplib.SMTP | None = None
        # Once the server cannot be reached, the rest of the round fails fast
        # rather than waiting out a connect timeout per email.
        self._unreachable: str | None = None

    async def __aenter__(self) -> SmtpSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._close(polite=True)

    async def send(self, message: EmailMessage, *, recipient: str) -> SendResult:
        if self._unreachable is not None:
            return SendResult(AttemptOutcome.FAILED, self._unreachable)
        try:
            smtp = await self._connected()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            self._unreachable = _describe(error)
            await self._close(polite=False)
            return SendResult(AttemptOutcome.FAILED, self._unreachable)
        try:
            await smtp.send_message(
                message, sender=self.settings.from_address, recipients=[recipient]
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            await self._reset()
            permanent = all(r.code >= 500 for r in error.recipients)
            outcome = AttemptOutcome.REJECTED if permanent else AttemptOutcome.FAILED
            return SendResult(outcome, _describe(error))
        except aiosmtplib.SMTPResponseException as error:
            # The server answered, so it holds nothing of ours; say so and go on.
            await self._reset()
            return SendResult(AttemptOutcome.FAILED, _describe(error))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            # The line dropped or timed out mid-conversation: perhaps after the
            # server took the message.
            await self._close(polite=False)
            return SendResult(AttemptOutcome.UNKNOWN, _describe(error))
        return SendResult(AttemptOutcome.SENT)

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        settings = self.settings
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        smtp = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user or None,
            password=password,
            use_tls=settings.smtp_security == "tls",
            # False, not None: "none" must never upgrade on its own, and
            # "starttls" must refuse a server that does not offer it.
            start_tls=settings.smtp_security == "starttls",
            timeout=settings.smtp_timeout_seconds,
            cert_bundle=str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
        )
        await smtp.connect()
        self._smtp = smtp
        return smtp

    async def abandon(self) -> None:
        """Drop the connection at once (a try was cut off mid-conversation); the
        next send opens a new one."""
        await self._close(polite=False)

    async def _reset(self) -> None:
        """After a refusal, clear the transaction so the connection can carry the next email."""
        if self._smtp is None:
            return
        try:
            await self._smtp.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            await self._close(polite=False)

    async def _close(self, *, polite: bool) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None or not smtp.is_connected:
            return
        if polite:
            try:
                await smtp.quit()
                return
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                pass
        smtp.close()


def _describe(error: BaseException) -> str:
    return (f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)[:500]


def _html_from_text(text: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    return f"<!DOCTYPE html><html><body>{paragraphs}</body></html>\n"
