"""TOTP codes as authenticator apps make them, recovery codes, and the secrets' encryption."""

from __future__ import annotations

import base64
import os
import re
import uuid
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from haven_identity.adapters.qr_code import qr_svg
from haven_identity.adapters.secret_box import SecretBox, UnreadableSecret
from haven_identity.domain import totp


def test_a_new_secret_has_160_bits_and_the_uri_names_haven_and_the_account_email():
    secret = totp.new_secret()
    assert len(base64.b32decode(secret)) * 8 == 160
    uri = totp.provisioning_uri(secret, "jo.bloggs@school.example")
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Haven:jo.bloggs@school.example"
    assert query["secret"] == [secret] and query["issuer"] == ["Haven"]
    # Authenticator apps assume SHA-1, 6 digits and 30 s when the URI says nothing.
    assert "algorithm" not in query or query["algorithm"] == ["SHA1"]


def test_codes_match_what_an_authenticator_app_shows_with_one_step_of_drift_either_way():
    secret = totp.new_secret()
    app = pyotp.TOTP(secret)
    now = 1_800_000_015.0
    step = totp.time_step(now)
    assert totp.matching_steps(secret, app.at(now), now) == [step]
    assert totp.matching_steps(secret, app.at(now - 30), now) == [step - 1]
    assert totp.matching_steps(secret, app.at(now + 30), now) == [step + 1]
    assert totp.matching_steps(secret, app.at(now - 60), now) == []
    assert totp.matching_steps(secret, app.at(now + 60), now) == []


def test_a_code_that_is_not_six_digits_matches_nothing():
    secret = totp.new_secret()
    for code in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦"):
        assert totp.matching_steps(secret, code) == []
    assert totp.normalise_code(" 123 456 ") == "123456"


def test_ten_recovery_codes_are_readable_distinct_and_normalise_what_people_type():
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}", c) for c in codes)
    code = codes[0]
    assert totp.normalise_recovery_code(code.upper()) == code.replace("-", "")
    assert totp.normalise_recovery_code(" " + code.replace("-", " ") + " ") == code.replace("-", "")
    assert totp.normalise_recovery_code("0O1Il-abcde") == "00111abcde"
    assert totp.normalise_recovery_code("short") is None
    assert totp.normalise_recovery_code("uuuuu-uuuuu") is None  # u is not in the alphabet


def test_a_sealed_secret_opens_only_with_the_same_key_and_for_the_same_account():
    box = SecretBox(os.urandom(32))
    owner, other = uuid.uuid4(), uuid.uuid4()
    secret = totp.new_secret()
    sealed = box.seal(owner, secret)
    assert secret.encode() not in sealed
    assert box.open(owner, sealed) == secret
    assert box.seal(owner, secret) != sealed  # a fresh nonce each time
    with pytest.raises(UnreadableSecret):
        box.open(other, sealed)
    with pytest.raises(UnreadableSecret):
        SecretBox(os.urandom(32)).open(owner, sealed)
    with pytest.raises(UnreadableSecret):
        box.open(owner, sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_the_qr_code_is_an_svg_image():
    svg = qr_svg("otpauth://totp/Haven:a%40b.org?secret=JBSWY3DPEHPK3PXP&issuer=Haven")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<script" not in svg
