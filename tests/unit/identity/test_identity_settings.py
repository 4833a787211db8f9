"""Identity's settings: the TOTP key, the session lifetimes, and the retired TTL."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from haven_identity.settings import IdentitySettings
from haven_runtime.config import describe_error

REQUIRED = {
    "database_url": "postgresql://u@h/db",
    "token_public_key": "pem",
    "token_signing_key": "pem",
    "secret_key": "s" * 32,
    "totp_encryption_key": base64.b64encode(b"k" * 32).decode(),
}


def test_the_defaults_follow_the_issue():
    settings = IdentitySettings(**REQUIRED)
    assert (settings.session_idle_minutes, settings.session_absolute_hours) == (30, 12)
    assert settings.elevation_minutes == 20
    assert (settings.reset_limit_per_email, settings.reset_limit_per_address) == (5, 60)
    assert (settings.login_free_attempts, settings.login_lock_after) == (5, 100)
    assert settings.login_max_delay_seconds == 900
    assert settings.login_limit_per_address == 100
    assert settings.totp_key_bytes == b"k" * 32


@pytest.mark.parametrize(
    "value",
    ["", "not base64!", base64.b64encode(b"k" * 16).decode()],
    ids=["empty", "junk", "short"],
)
def test_a_totp_key_that_is_not_32_bytes_of_base64_is_refused_naming_the_variable(value: str):
    with pytest.raises(ValidationError) as error:
        IdentitySettings(**{**REQUIRED, "totp_encryption_key": value})
    assert "HAVEN_TOTP_ENCRYPTION_KEY" in describe_error(error.value)


def test_the_totp_key_is_required(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("HAVEN_TOTP_ENCRYPTION_KEY", raising=False)
    required = {k: v for k, v in REQUIRED.items() if k != "totp_encryption_key"}
    with pytest.raises(ValidationError) as error:
        IdentitySettings(**required)
    assert describe_error(error.value) == (
        "configuration error: HAVEN_TOTP_ENCRYPTION_KEY is required but not set"
    )


def test_the_retired_session_ttl_stops_the_process_naming_its_replacements(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("HAVEN_SESSION_TTL_SECONDS", "28800")
    with pytest.raises(ValidationError) as error:
        IdentitySettings(**REQUIRED)
    message = describe_error(error.value)
    assert "HAVEN_SESSION_TTL_SECONDS" in message
    assert "HAVEN_SESSION_ABSOLUTE_HOURS" in message and "HAVEN_SESSION_IDLE_MINUTES" in message


def test_the_lock_must_come_after_the_free_attempts():
    with pytest.raises(ValidationError) as error:
        IdentitySettings(**REQUIRED, login_free_attempts=5, login_lock_after=5)
    assert "HAVEN_LOGIN_LOCK_AFTER" in describe_error(error.value)
