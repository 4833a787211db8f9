"""Reading what the stack sent: the local SMTP sink's messages, and waiting for them."""

from __future__ import annotations

import time
from email.message import EmailMessage

from haven_devstack.background import BackgroundStack
from haven_devstack.smtp_sink import read_messages


def wait_for(check, timeout: float = 20.0, interval: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll `check` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def mail_to(stack: BackgroundStack, address: str) -> list[EmailMessage]:
    return [m for m in read_messages(stack.stack.maildir) if address in str(m["To"])]


def text_of(message: EmailMessage) -> str:
    return "\n".join(
        part.get_content() for part in message.walk() if part.get_content_maintype() == "text"
    )
