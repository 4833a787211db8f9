"""What each email Haven sends says.

An email leaves the school's systems and may be read on a phone in public, so
an alert names no pupil and quotes nothing of the incident: it only asks the
member of staff to log in. Every body exists as plain text and as HTML, with
anything that came from an event escaped in the HTML.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class EmailKind(StrEnum):
    INCIDENT_ALERT = "incident_alert"
    PASSWORD_RESET = "password_reset"  # noqa: S105
    PASSWORD_CHANGED = "password_changed"  # noqa: S105
    SOFT_KEY_RESET = "soft_key_reset"


SECRET_BEARING_KINDS = frozenset({EmailKind.PASSWORD_RESET.value})
# What a secret-bearing body becomes once it no longer needs to be sent.
WIPED_BODY = "[wiped: this email carried a single-use link]"


@dataclass(frozen=True)
class OutgoingEmail:
    kind: EmailKind
    recipient: str  # the bare address; it is the only one in To
    subject: str
    text_body: str
    html_body: str
    # A message that is useless after this time (a reset link) is not sent late.
    expires_at: datetime | None = None

    @property
    def carries_a_secret(self) -> bool:
        """Its body holds a live credential, to be wiped once it is delivered or given up."""
        return self.kind in SECRET_BEARING_KINDS


ALERT_SUBJECT = "New safeguarding alert"
RESET_SUBJECT = "Set your Haven password"
PASSWORD_CHANGED_SUBJECT = "Your Haven password was changed"  # noqa: S105
SOFT_KEY_RESET_SUBJECT = "The soft key of your Haven account was reset"


def is_deliverable_address(address: str) -> bool:
    """A single bare address we can put in To without letting it add headers."""
    local, at, domain = address.partition("@")
    return (
        bool(local and at and domain)
        and "@" not in domain
        and not any(c in address for c in "\r\n<>,; \t")
    )


def incident_alert_email(*, recipient: str, school_name: str, public_url: str) -> OutgoingEmail:
    link = public_url.rstrip("/") + "/"
    text = (
        f"You have been alerted to a new incident at {school_name}. "
        f"Log in to Haven to review it: {link}\n"
    )
    body = (
        f"<p>You have been alerted to a new incident at {html.escape(school_name)}. "
        f'Log in to Haven to review it: <a href="{html.escape(link)}">{html.escape(link)}</a></p>'
    )
    return OutgoingEmail(
        EmailKind.INCIDENT_ALERT, recipient, ALERT_SUBJECT, text, _html_page(ALERT_SUBJECT, body)
    )


def password_reset_email(
    *, recipient: str, name: str, reset_url: str, expires_at: datetime, now: datetime
) -> OutgoingEmail:
    """The link that sets a password; first-time registration is a reset as well."""
    lasts = describe_lifetime(expires_at - now)
    greeting = f"Hello {name}," if name else "Hello,"
    text = (
        f"{greeting}\n\n"
        "We received a request to set the password of your Haven account. "
        "To choose a new password, open this link:\n\n"
        f"{reset_url}\n\n"
        f"The link can be used once and expires in {lasts}.\n\n"
        "If you did not ask for this, you can ignore this email: your password has not "
        "been changed. If you keep receiving these emails, tell your school's Haven "
        "administrator.\n"
    )
    url = html.escape(reset_url)
    body = (
        f"<p>{html.escape(greeting)}</p>"
        "<p>We received a request to set the password of your Haven account. "
        "To choose a new password, open this link:</p>"
        f'<p><a href="{url}">{url}</a></p>'
        f"<p>The link can be used once and expires in {html.escape(lasts)}.</p>"
        "<p>If you did not ask for this, you can ignore this email: your password has not "
        "been changed. If you keep receiving these emails, tell your school's Haven "
        "administrator.</p>"
    )
    return OutgoingEmail(
        EmailKind.PASSWORD_RESET,
        recipient,
        RESET_SUBJECT,
        text,
        _html_page(RESET_SUBJECT, body),
        expires_at=expires_at,
    )


def password_changed_email(*, recipient: str, name: str, changed_at: datetime) -> OutgoingEmail:
    greeting = f"Hello {name}," if name else "Hello,"
    when = describe_moment(changed_at)
    text = (
        f"{greeting}\n\n"
        f"Your Haven password was changed on {when}.\n\n"
        "If this was you, there is nothing more to do. If this was not you, contact "
        "your school's Haven administrator straight away.\n"
    )
    body = (
        f"<p>{html.escape(greeting)}</p>"
        f"<p>Your Haven password was changed on {html.escape(when)}.</p>"
        "<p>If this was you, there is nothing more to do. If this was not you, contact "
        "your school's Haven administrator straight away.</p>"
    )
    return OutgoingEmail(
        EmailKind.PASSWORD_CHANGED,
        recipient,
        PASSWORD_CHANGED_SUBJECT,
        text,
        _html_page(PASSWORD_CHANGED_SUBJECT, body),
    )


def soft_key_reset_email(
    *, recipient: str, name: str, reset_by_name: str, reset_at: datetime
) -> OutgoingEmail:
    """An administrator removed the member's soft key: say who, when, and what now.

    It carries nothing that would help anyone else into the account (no code,
    no key, no link), and it is not a request to act through the email.
    """
    greeting = f"Hello {name}," if name else "Hello,"
    by = reset_by_name.strip() or "an administrator"
    when = describe_moment(reset_at)
    paragraphs = [
        greeting,
        f"The soft key (authenticator app) of your Haven account was reset by {by} on {when}.",
        "You must set up your soft key again before you can elevate your access, for "
        "example to read a pupil's chronology. Log in to Haven and follow the steps to "
        "add your account to your authenticator app again.",
        "If you did not expect this, contact your school's Haven administrator or "
        "designated safeguarding lead (DSL) straight away.",
        "Haven will never ask you for a code from your authenticator app by email.",
    ]
    text = "\n\n".join(paragraphs) + "\n"
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return OutgoingEmail(
        EmailKind.SOFT_KEY_RESET,
        recipient,
        SOFT_KEY_RESET_SUBJECT,
        text,
        _html_page(SOFT_KEY_RESET_SUBJECT, body),
    )


def describe_lifetime(lifetime: timedelta) -> str:
    """How long a link lasts, in the words a person would use: "60 minutes", "2 hours"."""
    minutes = round(lifetime.total_seconds() / 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 120:
        return _count(minutes, "minute")
    hours = round(minutes / 60)
    if hours < 48:
        return _count(hours, "hour")
    return _count(round(hours / 24), "day")


def describe_moment(at: datetime) -> str:
    """An unambiguous time for people in any time zone: "30 November 2026 at 10:15 UTC"."""
    utc = at.astimezone(UTC)
    return f"{utc.day} {utc:%B %Y} at {utc:%H:%M} UTC"


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _html_page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>"
        f'<body style="font-family: sans-serif; line-height: 1.5">{body}</body></html>\n'
    )
