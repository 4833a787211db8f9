"""Every command and query identity answers, one function each, by where it lives.

- password_reset: request_password_reset, check_password_strength, confirm_password_reset
- sessions: login, authenticate, logout
- directory: get_me, list_schools, list_staff, get_staff, import_staff, create_school
- bootstrap (haven_identity.bootstrap): the first trust, school and admin, from the CLI
"""

from haven_identity.service_layer.directory import (
    create_school,
    get_me,
    get_staff,
    import_staff,
    list_schools,
    list_staff,
)
from haven_identity.service_layer.password_reset import (
    check_password_strength,
    confirm_password_reset,
    request_password_reset,
)
from haven_identity.service_layer.sessions import authenticate, login, logout

__all__ = [
    "authenticate",
    "check_password_strength",
    "confirm_password_reset",
    "create_school",
    "get_me",
    "get_staff",
    "import_staff",
    "list_schools",
    "list_staff",
    "login",
    "logout",
    "request_password_reset",
]
