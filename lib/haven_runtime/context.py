"""Request-scoped values: who is calling, and the request id."""

from __future__ import annotations

from contextvars import ContextVar

from haven_runtime.auth import Principal
from haven_runtime.errors import Unauthenticated

_principal: ContextVar[Principal | None] = ContextVar("haven_principal", default=None)
_internal_token: ContextVar[str | None] = ContextVar("haven_internal_token", default=None)
request_id: ContextVar[str | None] = ContextVar("haven_request_id", default=None)
# Where the person behind the call is (as the gateway saw it), for audit trails.
client_address: ContextVar[str | None] = ContextVar("haven_client_address", default=None)


def current_principal() -> Principal:
    """The verified caller; raises Unauthenticated when the call carried no valid token."""
    principal = _principal.get()
    if principal is None:
        raise Unauthenticated("this call needs the caller's identity")
    return principal


def optional_principal() -> Principal | None:
    return _principal.get()


def current_internal_token() -> str | None:
    """The caller's token, to forward when this service calls another for them."""
    return _internal_token.get()
