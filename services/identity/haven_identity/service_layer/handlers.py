"""Every command and query identity answers, one function each, by where it lives.

- password_reset: request_password_reset, check_password_strength, confirm_password_reset
- login: login
- sessions: authenticate, logout, list_sessions, revoke_session
- soft_key: setup_totp, confirm_totp, elevate
- admin: unlock_user, reset_totp, set_user_disabled, remove_membership
- trust_roles: grant_trust_role, revoke_trust_role
- audit: list_audit_events
- directory: get_me, list_schools, list_staff, get_staff, import_staff, create_school
- bootstrap (haven_identity.bootstrap): the first trust, school and admin, from the CLI
"""

from haven_identity.service_layer.admin import (
    remove_membership,
    reset_totp,
    set_user_disabled,
    unlock_user,
)
from haven_identity.service_layer.audit import list_audit_events
from haven_identity.service_layer.directory import (
    create_school,
    get_me,
    get_staff,
    import_staff,
    list_schools,
    list_staff,
)
from haven_identity.service_layer.login import login
from haven_identity.service_layer.password_reset import (
    check_password_strength,
    confirm_password_reset,
    request_password_reset,
)
from haven_identity.service_layer.sessions import (
    authenticate,
    list_sessions,
    logout,
    revoke_session,
)
from haven_identity.service_layer.soft_key import confirm_totp, elevate, setup_totp
from haven_identity.service_layer.trust_roles import grant_trust_role, revoke_trust_role

__all__ = [
    "authenticate",
    "check_password_strength",
    "confirm_password_reset",
    "confirm_totp",
    "create_school",
    "elevate",
    "get_me",
    "get_staff",
    "grant_trust_role",
    "import_staff",
    "list_audit_events",
    "list_schools",
    "list_sessions",
    "list_staff",
    "login",
    "logout",
    "remove_membership",
    "request_password_reset",
    "reset_totp",
    "revoke_trust_role",
    "revoke_session",
    "set_user_disabled",
    "setup_totp",
    "unlock_user",
]
