"""Email addresses as identity keys: one canonical, lower-case spelling per account."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class InvalidEmail(ValueError):
    """The text is not an email address we can send to."""


def canonical_email(raw: str) -> str:
    """The stored form of an address, or InvalidEmail with a message a person can act on.

    Addresses are compared case-insensitively everywhere (people type
    "Jo.Bloggs@School.org" and "jo.bloggs@school.org" interchangeably), so the
    canonical form is the validated address in lower case.
    """
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmail(str(error)) from None
    return checked.normalized.lower()


def lookup_email(raw: str) -> str | None:
    """The canonical form for a lookup, or None when it cannot be anyone's address."""
    try:
        return canonical_email(raw)
    except InvalidEmail:
        return None
