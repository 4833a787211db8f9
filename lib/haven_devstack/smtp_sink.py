"""A local SMTP server that delivers every message to a directory of .eml files.

Haven sends real e-mail (sign-in codes, safeguarding alerts) over SMTP; in
development and tests nothing may leave the machine, yet a developer or test
must see exactly what would have been sent.  Each message becomes one RFC 5322
file ``{maildir}/{UTC timestamp}-{uuid}.eml``, written under a temporary name
and renamed, so a reader never sees half a message.  File names sort in
arrival order.

Run on its own: ``python -m haven_devstack.smtp_sink --maildir var/mail --port N``.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import logging
import os
import signal
import threading
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, Session

from haven_devstack.ports import LOOPBACK


class _MaildirHandler:
    """aiosmtpd handler: write the message, prefixed with its envelope, to a file."""

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        # Envelope data is not in the headers (think Bcc): record it like an MDA does.
        trace = (
            f"Return-Path: <{envelope.mail_from or ''}>\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        deliver(self.maildir, trace + content)
        return "250 Message accepted for delivery"


def deliver(maildir: Path, message: bytes) -> Path:
    """Atomically store one raw message in ``maildir``; return the final path."""
    maildir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    ident = uuid.uuid4()
    tmp = maildir / f".{ident}.tmp"
    final = maildir / f"{stamp}-{ident}.eml"
    with tmp.open("wb") as fh:
        fh.write(message)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    return final


def read_messages(maildir: Path) -> list[EmailMessage]:
    """All delivered messages, oldest first, parsed with ``email.policy.default``."""
    messages: list[EmailMessage] = []
    for path in sorted(Path(maildir).glob("*.eml")):
        with path.open("rb") as fh:
            msg = email.message_from_binary_file(fh, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        messages.append(msg)
    return messages


class _DropLoginDataWarning(logging.Filter):
    """aiosmtpd itself logs "Session.login_data is deprecated" on every AUTH: noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_DropLoginDataWarning())


def _accept_any_login(*_args: Any) -> AuthResult:
    """Services may log in (as they would to a real relay); any credentials do."""
    return AuthResult(success=True)


class MailSink:
    """The sink running in a background thread of this process."""

    def __init__(self, maildir: Path, host: str = LOOPBACK, port: int = 1025) -> None:
        self.maildir = Path(maildir)
        self.host = host
        self.port = int(port)
        self._controller: Controller | None = None

    def start(self) -> None:
        if self._controller is not None:
            return
        self.maildir.mkdir(parents=True, exist_ok=True)
        controller = Controller(
            _MaildirHandler(self.maildir),
            hostname=self.host,
            port=self.port,
            server_hostname="haven-mail-sink",
            authenticator=_accept_any_login,
            auth_require_tls=False,  # loopback only, and clients may insist on AUTH
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the sink in the foreground until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description="SMTP sink writing .eml files")
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=1025)
    args = parser.parse_args(argv)

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    with MailSink(args.maildir, args.host, args.port):
        print(f"smtp sink on {args.host}:{args.port} -> {args.maildir}", flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
