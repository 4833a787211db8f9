"""Token hashing and email canonical form."""

from __future__ import annotations

import pytest

from haven_identity.domain.emails import InvalidEmail, canonical_email, lookup_email
from haven_identity.domain.tokens import TokenPurpose, new_token, token_hash, token_matches

KEY = "k" * 40


def test_tokens_are_long_random_and_url_safe():
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) >= 43 and t.replace("-", "").replace("_", "").isalnum() for t in tokens)


def test_a_token_hash_depends_on_the_key_and_the_purpose():
    token = new_token()
    stored = token_hash(KEY, TokenPurpose.SESSION, token)
    assert token not in stored
    assert token_matches(KEY, TokenPurpose.SESSION, token, stored)
    assert not token_matches(KEY, TokenPurpose.CSRF, token, stored)
    assert not token_matches("other" * 10, TokenPurpose.SESSION, token, stored)


def test_emails_are_stored_in_lower_case_and_compared_that_way():
    assert canonical_email("  Jo.Bloggs@School.EXAMPLE.org ") == "jo.bloggs@school.example.org"
    assert lookup_email("JO.BLOGGS@school.example.org") == "jo.bloggs@school.example.org"


def test_a_malformed_email_is_refused_with_a_reason_and_matches_no_one():
    with pytest.raises(InvalidEmail):
        canonical_email("jo@")
    assert lookup_email("not an email") is None
