"""Identity's own failure reasons, on top of the runtime's error classes."""

from __future__ import annotations

from haven_runtime.errors import FailedPrecondition, Unauthenticated


class InvalidResetToken(FailedPrecondition):
    """The reset link is unknown, already used or expired (the gateway answers 410)."""

    reason = "invalid_token"

    def __init__(self) -> None:
        super().__init__("this password reset link is invalid, used or expired")


class InvalidCredentials(Unauthenticated):
    """Wrong password or unknown email: one answer for both, so neither is revealed."""

    reason = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("the email or password is incorrect")
