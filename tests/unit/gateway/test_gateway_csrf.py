"""The CSRF rule: cookie-authenticated unsafe requests need the token; bearer ones never do."""

from __future__ import annotations

import pytest
from fastapi.security import HTTPAuthorizationCredentials

from haven_gateway.auth import csrf_required, session_token_from


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "post"])
def test_a_cookie_authenticated_unsafe_request_needs_the_csrf_token(method):
    assert csrf_required(method, "cookie")


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_a_cookie_authenticated_safe_request_needs_no_csrf_token(method):
    assert not csrf_required(method, "cookie")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_a_bearer_authenticated_request_never_needs_a_csrf_token(method):
    assert not csrf_required(method, "bearer")


def test_a_bearer_token_is_preferred_to_the_cookie():
    bearer = HTTPAuthorizationCredentials(scheme="Bearer", credentials="from-header")
    assert session_token_from(bearer, "from-cookie") == ("from-header", "bearer")
    assert session_token_from(None, "from-cookie") == ("from-cookie", "cookie")
    assert session_token_from(None, None) is None
