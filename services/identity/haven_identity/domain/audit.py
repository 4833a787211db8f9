"""What the audit log records: the actions, by name (the names are part of the API)."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    ACCOUNT_LOCKED = "account_locked"
    LOGOUT = "logout"
    SESSION_REVOKED = "session_revoked"
    PASSWORD_RESET_REQUESTED = "password_reset_requested"  # noqa: S105
    PASSWORD_RESET_COMPLETED = "password_reset_completed"  # noqa: S105
    PASSWORD_RESET_REFUSED_WEAK = "password_reset_refused_weak"  # noqa: S105
    TOTP_SETUP_STARTED = "totp_setup_started"
    TOTP_ENROLLED = "totp_enrolled"
    TOTP_RESET = "totp_reset"
    ELEVATED = "elevated"
    ELEVATION_FAILED = "elevation_failed"
    ROLE_CHANGED = "role_changed"
    MEMBERSHIP_REMOVED = "membership_removed"
    TRUST_ROLE_GRANTED = "trust_role_granted"
    TRUST_ROLE_REVOKED = "trust_role_revoked"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    USER_UNLOCKED = "user_unlocked"


class FailureReason(StrEnum):
    """Why a login (or another proof of the account) failed, as the audit log says it."""

    WRONG_PASSWORD = "wrong_password"  # noqa: S105 - a label, not a secret
    UNKNOWN_EMAIL = "unknown_email"
    NO_PASSWORD = "no_password"  # noqa: S105 - a label, not a secret
    DISABLED = "disabled"
    LOCKED = "locked"
    THROTTLED = "throttled"
    WRONG_CODE = "wrong_code"
