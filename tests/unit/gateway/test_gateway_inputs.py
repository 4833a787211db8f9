"""The limits every body is held to, and which bodies refuse unknown fields."""

from __future__ import annotations

import unicodedata

import pytest
from pydantic import ValidationError

from haven_gateway.field_paths import field_errors
from haven_gateway.inputs import MAX_PASSWORD, unstorable
from haven_gateway.schemas import IncidentIn, LoginIn, NameIn, PasswordStrengthIn
from haven_gateway.security_schemas import CodeIn, TotpSetupIn


def errors_of(model, body) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return {e.field: e.message for e in field_errors(caught.value.errors())}


@pytest.mark.parametrize(
    "password",
    [
        "p" * MAX_PASSWORD,
        "🦉" * MAX_PASSWORD,  # four bytes each, one character each
        " " * MAX_PASSWORD,  # spaces count, and are not trimmed
        unicodedata.normalize("NFD", "é" * MAX_PASSWORD),  # 512 code points, 256 characters
    ],
)
def test_a_password_of_up_to_256_characters_is_taken_whole(password):
    body = LoginIn.model_validate({"email": "a@b.org", "password": password})
    assert body.password == password


@pytest.mark.parametrize(
    "password",
    [
        "p" * (MAX_PASSWORD + 1),
        # One character that NFKC turns into eighteen: identity would count 18 x 15.
        "\ufdfa" * 15,
        "p" * 1_000_000,
    ],
)
def test_a_password_over_256_characters_as_identity_counts_them_is_refused(password):
    assert errors_of(TotpSetupIn, {"password": password}) == {
        "password": "must be at most 256 characters"
    }


def test_the_meter_rates_an_empty_password_but_login_needs_one():
    assert PasswordStrengthIn.model_validate({"password": ""}).password == ""
    assert list(errors_of(LoginIn, {"email": "a@b.org", "password": ""})) == ["password"]


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ("plain", False),
        ("Zoë 🦉 \t\n", False),
        ("\x00", True),
        ("a\ud800", True),
        ("\udc00b", True),
    ],
)
def test_text_must_be_storable_unicode_without_nul(value, refused):
    assert (unstorable(value) is not None) is refused


def test_unstorable_text_is_named_by_its_field_in_nested_lists_too():
    errors = errors_of(
        IncidentIn,
        {
            "student_id": "s1",
            "description": "ok",
            "category_ids": ["c1", "c\x00"],
            "body_map": [{"side": "front", "x": 0, "y": 0, "note": "\ud800"}],
        },
    )
    assert set(errors) == {"category_ids", "body_map[0].note"}


def test_auth_and_incident_bodies_refuse_unknown_fields_by_name():
    assert list(errors_of(CodeIn, {"code": "123456", "remember": True})) == ["remember"]
    assert list(errors_of(LoginIn, {"email": "a@b.org", "password": "p", "pasword": "p"})) == [
        "pasword"
    ]
    assert list(
        errors_of(
            IncidentIn,
            {"student_id": "s", "description": "d", "category_ids": ["c"], "alert_staf_ids": []},
        )
    ) == ["alert_staf_ids"]


def test_other_bodies_ignore_unknown_fields():
    assert NameIn.model_validate({"name": "Online", "colour": "red"}).name == "Online"


@pytest.mark.parametrize(
    ("model", "field", "limit"),
    [(LoginIn, "email", 254), (CodeIn, "code", 64), (NameIn, "name", 200)],
)
def test_limits_are_named_in_the_message(model, field, limit):
    body = {"email": "a@b.org", "password": "p", "code": "1", "name": "n"}
    allowed = {k: v for k, v in body.items() if k in model.model_fields}
    assert model.model_validate(allowed | {field: "x" * limit})
    message = errors_of(model, allowed | {field: "x" * (limit + 1)})[field]
    assert str(limit) in message
