"""Identity's own failure reasons, on top of the runtime's error classes."""

from __future__ import annotations

from haven_runtime.errors import (
    FailedPrecondition,
    FieldViolation,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)


class InvalidResetToken(FailedPrecondition):
    """The reset link is unknown, already used or expired (the gateway answers 410)."""

    reason = "invalid_token"

    def __init__(self) -> None:
        super().__init__("this password reset link is invalid, used or expired")


class InvalidCredentials(Unauthenticated):
    """Wrong password, unknown email or locked account: one answer for all."""

    reason = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("the email or password is incorrect")


class TooManyAttempts(TooManyRequests):
    """Login (or soft-key) attempts are throttled; the next is checked after retry_after."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "too many failed attempts; try again later",
            reason="too_many_attempts",
            retry_after=retry_after,
        )


class InvalidCode(Unauthenticated):
    """A wrong, expired or already used soft-key or recovery code (one answer for all)."""

    reason = "invalid_code"

    def __init__(self) -> None:
        super().__init__("the code is incorrect or has been used")


class InvalidConfirmationCode(ValidationFailed):
    """The first code from a new soft key is wrong: the form field is at fault (422)."""

    def __init__(self) -> None:
        super().__init__(
            [FieldViolation("code", "is not the current code of the authenticator app")],
            reason="invalid_code",
        )


def too_long(field: str, maximum: int) -> ValidationFailed:
    return ValidationFailed([FieldViolation(field, f"must be at most {maximum} characters")])
