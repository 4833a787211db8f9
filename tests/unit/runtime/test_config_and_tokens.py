"""The shared runtime's promises that need no servers."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import jwt
import pytest

from haven_runtime.auth import (
    InvalidToken,
    Principal,
    TokenSigner,
    TokenVerifier,
    generate_signing_key,
)
from haven_runtime.events import subject_for


def run_service_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "from haven_runtime.config import ServiceSettings, load_settings\n"
        "load_settings(ServiceSettings)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


def test_a_missing_setting_stops_the_process_with_one_line_naming_it():
    result = run_service_settings({"HAVEN_GRPC_PORT": "50051", "HAVEN_TOKEN_PUBLIC_KEY": "x"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "haven: configuration error: HAVEN_DATABASE_URL is required but not set"
    ]


def test_a_malformed_setting_stops_the_process_naming_it():
    result = run_service_settings(
        {
            "HAVEN_DATABASE_URL": "postgresql://x/y",
            "HAVEN_GRPC_PORT": "fifty",
            "HAVEN_TOKEN_PUBLIC_KEY": "x",
        }
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "HAVEN_GRPC_PORT" in result.stderr


def principal(**changes) -> Principal:  # type: ignore[no-untyped-def]
    values = {
        "user_id": "u1",
        "session_id": "s1",
        "name": "Ann",
        "email": "ann@example.org",
        "schools": {"school-1": "dsl"},
    }
    values.update(changes)
    return Principal(**values)


def test_a_signed_token_tells_the_service_who_calls_and_their_role_in_each_school():
    key = generate_signing_key()
    token = TokenSigner(key).sign(principal())
    verified = TokenVerifier(key.public_key()).verify(token)
    assert verified.user_id == "u1"
    assert verified.is_dsl_of("school-1")
    assert not verified.belongs_to("school-2")


def test_a_token_signed_by_another_key_is_refused():
    token = TokenSigner(generate_signing_key()).sign(principal())
    with pytest.raises(InvalidToken):
        TokenVerifier(generate_signing_key().public_key()).verify(token)


def test_an_expired_token_is_refused():
    key = generate_signing_key()
    token = TokenSigner(key, lifetime=-60).sign(principal())
    with pytest.raises(InvalidToken):
        TokenVerifier(key.public_key()).verify(token)


def test_a_token_checked_once_is_remembered_only_until_it_expires():
    key = generate_signing_key()
    verifier = TokenVerifier(key.public_key())
    # Expired 4 s ago: within the 5 s leeway for about another second.
    token = TokenSigner(key, lifetime=-4).sign(principal())
    claims = jwt.decode(token, options={"verify_signature": False})
    time.sleep(max(0.0, claims["exp"] + 4.5 - time.time()))
    first = verifier.verify(token)
    assert verifier.verify(token) is first  # remembered, not checked again
    time.sleep(max(0.0, claims["exp"] + 5.2 - time.time()))
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_a_remembered_token_does_not_vouch_for_another_one():
    key = generate_signing_key()
    verifier = TokenVerifier(key.public_key())
    token = TokenSigner(key).sign(principal())
    verifier.verify(token)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(InvalidToken):
        verifier.verify(forged)


def test_a_token_for_another_audience_is_refused():
    key = generate_signing_key()
    now = int(time.time())
    token = jwt.encode(
        {
            "sub": "u1",
            "aud": "somewhere-else",
            "iss": "haven-identity",
            "iat": now,
            "exp": now + 60,
        },
        key,
        algorithm="EdDSA",
    )
    with pytest.raises(InvalidToken):
        TokenVerifier(key.public_key()).verify(token)


def test_an_unsigned_token_is_refused():
    now = int(time.time())
    token = jwt.encode(
        {
            "sub": "u1",
            "aud": "haven-services",
            "iss": "haven-identity",
            "iat": now,
            "exp": now + 60,
        },
        key=None,
        algorithm="none",
    )
    with pytest.raises(InvalidToken):
        TokenVerifier(generate_signing_key().public_key()).verify(token)


def test_event_subjects_follow_the_versioned_protobuf_name():
    assert (
        subject_for("haven.incidents.v1.IncidentRecorded")
        == "haven.events.incidents.v1.IncidentRecorded"
    )


def test_log_lines_are_json_with_service_and_request_id_and_never_a_password():
    # In its own process: logging configuration is global, and stays so.
    code = (
        "from haven_runtime.logging import configure_logging, get_logger\n"
        "configure_logging('testsvc')\n"
        "get_logger().info('login attempt', password='hunter2-secret', description='incident text')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["service"] == "testsvc"
    assert "request_id" in line
    assert "hunter2-secret" not in result.stdout
    assert "incident text" not in result.stdout
