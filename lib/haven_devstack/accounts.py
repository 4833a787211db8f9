"""Staff on a running dev stack, made as people make them: the reset email, then login.

For end-to-end tests and benchmarks. `http` is an HTTP client (httpx.Client)
whose base URL is the stack's gateway; the email is read from the stack's mail
sink folder, as a new member of staff would read it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from haven_devstack.smtp_sink import read_messages

TOKEN_IN_LINK = re.compile(r"/reset-password\?token=([A-Za-z0-9_\-]+)")


def reset_token(maildir: Path, email: str, *, skip: int = 0, timeout: float = 60.0) -> str:
    """The token in the newest reset link sent to `email`, once more than `skip` emails
    to them have arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        to_them = [m for m in read_messages(maildir) if email in str(m["To"])][skip:]
        for message in reversed(to_them):
            for part in message.walk():
                if part.get_content_maintype() == "text":
                    found = TOKEN_IN_LINK.search(part.get_content())
                    if found:
                        return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no reset email reached {email} in {timeout:.0f} s")


def register(http: Any, maildir: Path, email: str, password: str) -> None:
    """Ask for the reset email, follow its link and choose `password`."""
    before = len([m for m in read_messages(maildir) if email in str(m["To"])])
    asked = http.post("/api/v1/auth/password-reset", json={"email": email})
    assert asked.status_code == 202, asked.text
    token = reset_token(maildir, email, skip=before)
    confirmed = http.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "password": password}
    )
    assert confirmed.status_code == 204, confirmed.text


def log_in(http: Any, email: str, password: str) -> dict[str, str]:
    """The Authorization header of a new session."""
    reply = http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def register_and_log_in(http: Any, maildir: Path, email: str, password: str) -> dict[str, str]:
    register(http, maildir, email, password)
    return log_in(http, email, password)
